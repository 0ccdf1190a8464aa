//! A seeder that serves corrupt data is detected and banned, and the
//! download completes from honest peers. Peers listen on distinct loopback
//! addresses because bans are per address, as in libtorrent.

mod common;

use std::path::Path;
use std::time::Duration;

use common::engine::LoopbackDownload;
use common::peers::{assert_same_tree, libtorrent, seeded_torrent};
use piecewise::engine::events::TorrentEvent;

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
    let (data, torrent, _) = seeded_torrent(dir.path(), &[]);
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
    let download = LoopbackDownload::of_file(&download_dir, &torrent).await;
    let mut peers = vec![liar.addr];
    peers.extend(honest.iter().map(|p| p.addr));
    download.handle.add_peers(peers).unwrap();

    let seen = download
        .events_until_finished(Duration::from_secs(60))
        .await;
    let hash_failures = seen
        .iter()
        .filter(|e| matches!(e, TorrentEvent::HashFailed { .. }))
        .count();
    let banned: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            TorrentEvent::PeerBanned(ip) => Some(*ip),
            _ => None,
        })
        .collect();
    assert!(hash_failures > 0, "the liar's data was never checked");
    assert_eq!(banned, vec![liar.addr.ip()], "only the liar is banned");
    assert!(download.handle.stats().wasted_bytes > 0);
    assert_same_tree(&data, &download_dir.join("multi"));
}
