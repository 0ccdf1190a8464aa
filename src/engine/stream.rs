//! TODO(owner fills in): random-access reads of one file of a torrent.
