//! A download killed half way, or stopped by a full disk, keeps its
//! verified pieces: restarted on the same folder, it checks them, keeps
//! them, and fetches only the rest.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::engine::LoopbackDownload;
use common::peers::{
    assert_same_tree, create_torrent, libtorrent, piecewise, seeded_torrent, write_data,
};
use common::wait_or_kill;
use piecewise::engine::events::{TorrentState, TorrentStats};

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

/// Starts `torrent` in process on `download_dir` and waits for the resume
/// check: the download and its stats then.
async fn restart(download_dir: &Path, torrent: &Path) -> (LoopbackDownload, TorrentStats) {
    let download = LoopbackDownload::of_file(download_dir, torrent).await;
    let checked = download
        .handle
        .stats_watch()
        .wait_for(|s| s.state != TorrentState::Checking)
        .await
        .unwrap()
        .clone();
    (download, checked)
}

/// Lets the restarted torrent finish from `seeder`.
async fn finish_from(download: &LoopbackDownload, seeder: SocketAddr) {
    let handle = &download.handle;
    handle.add_peers(vec![seeder]).unwrap();
    let mut stats = handle.stats_watch();
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await;
    assert!(done.is_ok(), "restart did not finish: {:?}", handle.stats());
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

    let (download, checked) = restart(&download_dir, &torrent).await;
    let handle = &download.handle;
    assert!(
        checked.pieces_had >= verified_before_kill,
        "resume kept {} pieces of the {verified_before_kill} verified before the kill",
        checked.pieces_had
    );
    assert!(checked.pieces_had < checked.piece_count);

    finish_from(&download, seeder.addr).await;
    let total_bytes = handle.metainfo().info.total_length;
    // At least this much was kept (the last piece is shorter).
    let kept_bytes = u64::from(checked.pieces_had - 1) * 32 * 1024;
    assert!(
        handle.stats().bytes_downloaded <= total_bytes - kept_bytes,
        "the restart downloaded kept pieces again"
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}

/// Mounts a 1 MiB tmpfs on $1 in a fresh user and mount namespace (no
/// privileges needed), downloads $4 from peer $3 into it with $2, copies
/// what is on it to $5, and exits with the download's status (99: no
/// tmpfs).
const DOWNLOAD_ONTO_SMALL_TMPFS: &str = r#"
mount -t tmpfs -o size=1m tmpfs "$1" || exit 99
"$2" download --listen-ip 127.0.0.1 --no-dht --peer "$3" --download-dir "$1" "$4"
status=$?
cp -a "$1/." "$5"
exit $status
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_onto_a_full_disk_stops_with_a_plain_message_and_keeps_its_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/film.bin");
    write_data(&data, 3_000_000, 4);
    let torrent = dir.path().join("film.torrent");
    create_torrent(&data, &torrent, 64 * 1024, &[]);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    let (small, kept) = (dir.path().join("small"), dir.path().join("kept"));
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(&kept).unwrap();
    let log = dir.path().join("full.log");
    let child = Command::new("unshare")
        .args(["-Urm", "sh", "-c", DOWNLOAD_ONTO_SMALL_TMPFS, "sh"])
        .arg(&small)
        .arg(env!("CARGO_BIN_EXE_piecewise"))
        .arg(seeder.addr.to_string())
        .arg(&torrent)
        .arg(&kept)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("unshare runs (package util-linux)");
    let status = wait_or_kill(child, Duration::from_secs(90), "piecewise download").status;
    let stderr = std::fs::read_to_string(&log).unwrap();
    if status.code() == Some(99) {
        eprintln!("skipped: no tmpfs in a user namespace here: {stderr}");
        return;
    }
    assert!(!status.success(), "the download fitted: {stderr}");
    assert!(
        stderr.contains("the disk is full: no space left to write into"),
        "{stderr}"
    );

    // On a disk with room, the pieces that fitted are found again.
    let (download, checked) = restart(&kept, &torrent).await;
    // 1 MiB holds 16 pieces; most were written before the first refusal.
    assert!(
        checked.pieces_had >= 8 && checked.pieces_had >= pieces_had(&log),
        "kept {} pieces; {} were verified before the disk filled",
        checked.pieces_had,
        pieces_had(&log)
    );
    finish_from(&download, seeder.addr).await;
    assert!(std::fs::read(kept.join("film.bin")).unwrap() == std::fs::read(&data).unwrap());
}
