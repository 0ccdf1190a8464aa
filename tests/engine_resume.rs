//! A download killed half way keeps its verified pieces: restarted on the
//! same folder, it checks them, keeps them, and fetches only the rest.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::engine::LoopbackDownload;
use common::peers::{assert_same_tree, libtorrent, piecewise, seeded_torrent};
use piecewise::engine::events::TorrentState;

/// The last `N/M pieces` in a progress log.
fn pieces_had(log: &Path) -> u32 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.rsplit('\r')
        .find_map(|line| {
            let (_, rest) = line.split_once(": ")?;
            let (had, _) = rest.split_once('/')?;
            had.parse().ok()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_killed_half_way_resumes_with_its_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, _) = seeded_torrent(dir.path(), &[]);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    let download_dir = dir.path().join("download");

    // A slow first run, killed (SIGKILL) once a quarter of it is verified.
    let log = dir.path().join("first.log");
    let mut first = piecewise(
        "download",
        &[
            "--download-dir".into(),
            download_dir.display().to_string(),
            "--download-limit".into(),
            "500000".into(),
            "--peer".into(),
            seeder.addr.to_string(),
        ],
        &torrent,
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let total = 100; // 3.2 MB in 32 KiB pieces: about a hundred
    while pieces_had(&log) < total / 4 {
        assert!(Instant::now() < deadline, "first run made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let verified_before_kill = pieces_had(&log);

    let download = LoopbackDownload::of_file(&download_dir, &torrent).await;
    let handle = &download.handle;
    let mut stats = handle.stats_watch();
    let checked = stats
        .wait_for(|s| s.state != TorrentState::Checking)
        .await
        .unwrap()
        .clone();
    assert!(
        checked.pieces_had >= verified_before_kill,
        "resume kept {} pieces of the {verified_before_kill} verified before the kill",
        checked.pieces_had
    );
    assert!(checked.pieces_had < checked.piece_count);

    handle.add_peers(vec![seeder.addr]).unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await;
    assert!(done.is_ok(), "restart did not finish: {:?}", handle.stats());
    let total_bytes = handle.metainfo().info.total_length;
    // At least this much was kept (the last piece is shorter).
    let kept_bytes = u64::from(checked.pieces_had - 1) * 32 * 1024;
    assert!(
        handle.stats().bytes_downloaded <= total_bytes - kept_bytes,
        "the restart downloaded kept pieces again"
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}
