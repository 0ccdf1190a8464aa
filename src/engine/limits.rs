//! Every limit on what peers, trackers and files may send us, in one place.
//! Each constant says its unit and why; each has a test that crosses it.
//! Values follow what libtorrent, Transmission and rqbit enforce
//! (see `shared/limits.md`).
