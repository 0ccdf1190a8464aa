//! Downloads and uploads against real libtorrent peers on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::opentracker::Opentracker;
use common::peers::{
    assert_same_tree, create_torrent, libtorrent, piecewise, write_multi_file_data,
};
use piecewise::engine::events::TorrentEvent;
use piecewise::engine::handle::{Engine, EngineConfig, TorrentSource};
use piecewise::engine::metainfo::Metainfo;
use piecewise::engine::picker::Policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_multi_file_torrent_from_three_libtorrent_seeders_found_through_opentracker() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    // The info-hash does not depend on the trackers: learn it, whitelist
    // it, then make the torrent that names the tracker.
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    let info_hash = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap()
        .info_hash;
    let tracker = Opentracker::start(&[info_hash]);
    create_torrent(&data, &torrent, 32 * 1024, &[tracker.http_url()]);

    // Slow seeders, so that the download needs all three.
    let mut seeders: Vec<_> = (0..3)
        .map(|_| {
            libtorrent(
                "seed",
                &torrent,
                &dir.path().join("seed"),
                &["--upload-limit".into(), "1000000".into()],
            )
        })
        .collect();
    for seeder in &mut seeders {
        seeder.wait_for_line("announced");
    }

    let download_dir = dir.path().join("download");
    let mut config = EngineConfig::new(&download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    config.policy = Policy::RarestFirst;
    let engine = Engine::start(config).await.unwrap();
    let events = engine.events();
    let handle = engine
        .add_torrent(TorrentSource::File(torrent.clone()))
        .await
        .unwrap();
    let mut connected = HashSet::new();
    let mut tracker_replies = 0;
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await.unwrap().kind {
                TorrentEvent::PeerConnected(addr) => {
                    connected.insert(addr);
                }
                TorrentEvent::TrackerReply { .. } => tracker_replies += 1,
                TorrentEvent::Finished => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "download did not finish: {:?}",
        handle.stats()
    );
    assert!(tracker_replies >= 1);
    let seeder_addrs: HashSet<_> = seeders.iter().map(|s| s.addr).collect();
    assert_eq!(
        connected, seeder_addrs,
        "all three seeders were found and used"
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}

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
