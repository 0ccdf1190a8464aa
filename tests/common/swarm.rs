//! A generated video seeded by libtorrent on 127.0.0.1: the swarm of the
//! playback and outlet tests.

use std::path::PathBuf;

use piecewise::engine::metainfo::Metainfo;
use piecewise::player::sample::SampleFormat;

use super::peers::{Peer, create_torrent, libtorrent};
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
        let seed_dir = dir.path().join("seed");
        std::fs::create_dir_all(&seed_dir).unwrap();
        let video = write_video(&seed_dir, ten_second_video(format));
        let torrent = dir.path().join("video.torrent");
        create_torrent(&video, &torrent, PIECE, &[]);
        let seeder = libtorrent(
            "seed",
            &torrent,
            &seed_dir,
            &["--upload-limit".into(), upload_limit.to_string()],
        );
        Swarm {
            dir,
            torrent,
            video,
            seeder,
        }
    }

    /// A magnet link with the seeder as its only source (`x.pe`).
    pub fn magnet(&self) -> String {
        let info_hash = Metainfo::from_bytes(&std::fs::read(&self.torrent).unwrap())
            .unwrap()
            .info_hash;
        format!(
            "magnet:?xt=urn:btih:{}&x.pe={}",
            info_hash.to_hex(),
            self.seeder.addr
        )
    }
}
