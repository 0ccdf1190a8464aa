//! A seeder that serves corrupt data is detected and banned, and the
//! download completes from honest peers. Peers listen on distinct loopback
//! addresses because bans are per address, as in libtorrent.

mod common;

use std::path::Path;
use std::time::Duration;

use common::peers::{assert_same_tree, create_torrent, libtorrent, write_multi_file_data};
use piecewise::engine::events::TorrentEvent;
use piecewise::engine::handle::{Engine, EngineConfig, TorrentSource};
use piecewise::engine::picker::Policy;

/// Copies `from` to `to`, flipping one byte in every 10,000 so that nearly
/// every piece fails its hash.
fn copy_corrupted(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_corrupted(&entry.path(), &target);
        } else {
            let mut data = std::fs::read(entry.path()).unwrap();
            for byte in data.iter_mut().step_by(10_000) {
                *byte ^= 0xff;
            }
            std::fs::write(target, data).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_seeder_is_banned_and_download_completes_from_honest_peers() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    copy_corrupted(&data, &dir.path().join("corrupt/multi"));

    // The liar is fast; the honest seeders are slow, so the liar supplies
    // pieces (and gets caught) before the honest ones finish the job.
    let liar = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("corrupt"),
        &[
            "--trust-data".into(),
            "--listen-ip".into(),
            "127.0.0.2".into(),
        ],
    );
    let honest: Vec<_> = ["127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| {
            libtorrent(
                "seed",
                &torrent,
                &dir.path().join("seed"),
                &[
                    "--listen-ip".into(),
                    ip.to_string(),
                    "--upload-limit".into(),
                    "1000000".into(),
                ],
            )
        })
        .collect();

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
    let mut peers = vec![liar.addr];
    peers.extend(honest.iter().map(|p| p.addr));
    handle.add_peers(peers).unwrap();

    let mut hash_failures = 0;
    let mut banned = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await.unwrap().kind {
                TorrentEvent::HashFailed { .. } => hash_failures += 1,
                TorrentEvent::PeerBanned(ip) => banned.push(ip),
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
    assert!(hash_failures > 0, "the liar's data was never checked");
    assert_eq!(banned, vec![liar.addr.ip()], "only the liar is banned");
    assert!(handle.stats().wasted_bytes > 0);
    assert_same_tree(&data, &download_dir.join("multi"));
}
