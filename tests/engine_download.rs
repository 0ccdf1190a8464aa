//! Downloads and uploads against real libtorrent peers on 127.0.0.1.

mod common;

use std::time::Duration;

use common::peers::{
    assert_same_tree, create_torrent, libtorrent, piecewise, write_multi_file_data,
};

#[test]
fn downloads_multi_file_torrent_from_libtorrent_seeder_given_with_peer() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);

    let download_dir = dir.path().join("download");
    let log = dir.path().join("download.log");
    let mut download = piecewise(
        "download",
        &[
            "--download-dir".into(),
            download_dir.display().to_string(),
            "--peer".into(),
            seeder.addr.to_string(),
        ],
        &torrent,
        &log,
    );
    let status = download.wait(Duration::from_secs(60));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}

#[test]
fn libtorrent_leecher_completes_a_torrent_only_piecewise_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 64 * 1024, &[]);
    let log = dir.path().join("seed.log");
    let seeder = piecewise(
        "seed",
        &[
            "--download-dir".into(),
            dir.path().join("seed").display().to_string(),
        ],
        &torrent,
        &log,
    );
    let leech_dir = dir.path().join("leech");
    let mut leecher = libtorrent(
        "leech",
        &torrent,
        &leech_dir,
        &[
            "--peer".into(),
            seeder.addr.to_string(),
            "--timeout".into(),
            "60".into(),
        ],
    );
    let status = leecher.wait(Duration::from_secs(70));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_same_tree(&data, &leech_dir.join("multi"));
}
