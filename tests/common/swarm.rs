//! A generated video seeded by libtorrent on 127.0.0.1: the swarm of the
//! playback and outlet tests.

use std::path::{Path, PathBuf};

use piecewise::engine::metainfo::Metainfo;
use piecewise::player::sample::SampleFormat;

use super::opentracker::Opentracker;
use super::peers::{Peer, create_torrent, libtorrent, magnet_uri};
use super::{ten_second_video, write_video};

/// Piece length of the test torrents: small, so a 10 s video has dozens.
pub const PIECE: u32 = 32 * 1024;

pub struct Swarm {
    pub dir: tempfile::TempDir,
    pub torrent: PathBuf,
    pub video: PathBuf,
    pub seeder: Peer,
}

impl Swarm {
    /// A 10 s video in `format` as a torrent, seeded by libtorrent at
    /// `upload_limit` bytes/s (0: unlimited).
    pub fn start(format: SampleFormat, upload_limit: u64) -> Swarm {
        let dir = tempfile::tempdir().unwrap();
        let (video, torrent) = video_torrent(dir.path(), format);
        let seeder = seed(&torrent, &dir.path().join("seed"), upload_limit);
        Swarm {
            dir,
            torrent,
            video,
            seeder,
        }
    }

    /// A magnet link with the seeder as its only source (`x.pe`).
    pub fn magnet(&self) -> String {
        peer_magnet(&self.torrent, &self.seeder)
    }
}

/// A magnet link for `torrent` with `peer` as its only source (`x.pe`).
pub fn peer_magnet(torrent: &Path, peer: &Peer) -> String {
    let metainfo = Metainfo::from_bytes(&std::fs::read(torrent).unwrap()).unwrap();
    magnet_uri(&metainfo, &[peer.addr], &[])
}

/// A libtorrent seeder of `torrent`, its data below `seed_dir`, uploading
/// at most `upload_limit` bytes/s (0: unlimited).
pub fn seed(torrent: &Path, seed_dir: &Path, upload_limit: u64) -> Peer {
    libtorrent(
        "seed",
        torrent,
        seed_dir,
        &["--upload-limit".into(), upload_limit.to_string()],
    )
}

/// Writes a 10 s video in `format` under `dir/seed` and its torrent as
/// `dir/video.torrent`; returns both paths.
fn video_torrent(dir: &Path, format: SampleFormat) -> (PathBuf, PathBuf) {
    let seed_dir = dir.join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let video = write_video(&seed_dir, ten_second_video(format));
    let torrent = dir.join("video.torrent");
    create_torrent(&video, &torrent, PIECE, &[]);
    (video, torrent)
}

/// An MP4 torrent that names a real opentracker, seeded by two libtorrent
/// seeders that have announced: peers found the way a desktop finds them.
pub struct TrackedSwarm {
    pub torrent: PathBuf,
    pub tracker: Opentracker,
    pub seeders: Vec<Peer>,
}

impl TrackedSwarm {
    /// Makes the video and torrent in `dir`; each seeder uploads at most
    /// `upload_limit` bytes/s.
    pub fn start(dir: &Path, upload_limit: u64) -> TrackedSwarm {
        let (video, torrent) = video_torrent(dir, SampleFormat::Mp4H264Aac);
        // The info-hash does not depend on the trackers: learn it,
        // whitelist it, then make the torrent that names the tracker.
        let info_hash = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
            .unwrap()
            .info_hash;
        let tracker = Opentracker::start(&[info_hash]);
        create_torrent(&video, &torrent, PIECE, &[tracker.http_url()]);
        let mut seeders: Vec<_> = (0..2)
            .map(|_| seed(&torrent, &dir.join("seed"), upload_limit))
            .collect();
        for seeder in &mut seeders {
            seeder.wait_for_line("announced");
        }
        TrackedSwarm {
            torrent,
            tracker,
            seeders,
        }
    }
}

/// A working folder and a cache folder (`XDG_CACHE_HOME`) below the
/// swarm's folder, for a run that must leave nothing in the first.
pub struct Folders {
    pub working: PathBuf,
    pub cache: PathBuf,
}

impl Swarm {
    pub fn working_and_cache_folders(&self) -> Folders {
        let folders = Folders {
            working: self.dir.path().join("working"),
            cache: self.dir.path().join("cache"),
        };
        std::fs::create_dir_all(&folders.working).unwrap();
        folders
    }

    /// Asserts the run left nothing in the working folder and kept the
    /// torrent's file in the cache folder the GStreamer plugin uses.
    pub fn assert_kept_in_cache_only(&self, folders: &Folders) {
        let left: Vec<_> = std::fs::read_dir(&folders.working).unwrap().collect();
        assert!(left.is_empty(), "left in the working folder: {left:?}");
        let cached = folders
            .cache
            .join("piecewise/torrents")
            .join(self.video.file_name().unwrap());
        assert!(
            std::fs::read(&cached).unwrap() == std::fs::read(&self.video).unwrap(),
            "{cached:?}"
        );
    }
}
