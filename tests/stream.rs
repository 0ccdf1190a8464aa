//! The stream API against a real libtorrent seeder on 127.0.0.1: reads
//! return the file's verified bytes wherever they land, other files are not
//! fetched, and a dropped read leaves the stream usable.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::engine::{LoopbackDownload, loopback_config};
use common::peers::{
    Peer, create_torrent, libtorrent, magnet_uri, seeded_torrent, write_data, write_multi_file_data,
};
use piecewise::engine::events::TorrentState;
use piecewise::engine::handle::{Engine, TorrentHandle, TorrentSource};
use piecewise::engine::metainfo::Info;
use piecewise::engine::stream::FileStream;

const PIECE: u32 = 32 * 1024;

async fn leecher(dir: &Path, torrent: &Path) -> (Engine, TorrentHandle) {
    let config = loopback_config(dir.join("download"));
    let source = TorrentSource::File(torrent.to_path_buf());
    let LoopbackDownload { engine, handle, .. } = LoopbackDownload::start(config, source).await;
    (engine, handle)
}

/// A 1 MB file seeded by an unlimited libtorrent seeder, and a leecher of
/// it that has not been told of the seeder yet.
async fn one_file_leecher(dir: &Path) -> (PathBuf, Peer, Engine, TorrentHandle) {
    let path = dir.join("seed/video.bin");
    write_data(&path, 1_000_000, 7);
    let torrent = dir.join("video.torrent");
    create_torrent(&path, &torrent, PIECE, &[]);
    let seeder = libtorrent("seed", &torrent, &dir.join("seed"), &[]);
    let (engine, handle) = leecher(dir, &torrent).await;
    (path, seeder, engine, handle)
}

/// The multi-file data seeded by libtorrent at `upload_limit` bytes/s, and
/// a leecher of it that is told to want none of its files (streams choose).
async fn multi_file_leecher(
    dir: &Path,
    upload_limit: u64,
) -> (PathBuf, Peer, Engine, TorrentHandle) {
    let data = write_multi_file_data(&dir.join("seed"), "multi");
    let torrent = dir.join("multi.torrent");
    create_torrent(&data, &torrent, PIECE, &[]);
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.join("seed"),
        &["--upload-limit".into(), upload_limit.to_string()],
    );
    let (engine, handle) = leecher(dir, &torrent).await;
    let files = handle.metainfo().info.files.len();
    handle.set_wanted_files(vec![false; files]).unwrap();
    (data, seeder, engine, handle)
}

async fn read(stream: &FileStream, offset: u64, len: usize) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(30), stream.read_at(offset, len))
        .await
        .expect("read did not complete")
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reads_verified_bytes_of_its_file_and_other_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (data, seeder, _engine, handle) = multi_file_leecher(dir.path(), 2_000_000).await;
    let info = handle.metainfo().info.clone();
    let file = info
        .files
        .iter()
        .position(|f| f.path.ends_with("sub/b.bin"))
        .unwrap();
    let stream = handle.open_stream(file).unwrap();
    handle.add_peers(vec![seeder.addr]).unwrap();

    let expected = std::fs::read(data.join("sub/b.bin")).unwrap();
    assert_eq!(stream.len(), expected.len() as u64);
    // As a demuxer would: the end (an index), the start, then the middle;
    // a read past the end is short.
    let end = expected.len();
    for (offset, len) in [(end - 5000, 8192), (0, 65536), (300_000, 100_000)] {
        let bytes = read(&stream, offset as u64, len).await;
        let stop = (offset + len).min(end);
        assert_eq!(bytes, &expected[offset..stop], "read at {offset}");
        assert!(stream.is_available(offset as u64, len));
    }

    // The streamed file completes the torrent's wanted set ...
    let mut stats = handle.stats_watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .expect("the streamed file did not complete")
    .unwrap();
    // ... and no piece lying wholly in another file was fetched.
    let b = &info.files[file];
    let have = handle.verified_pieces().borrow().clone();
    for piece in 0..info.piece_count() {
        let start = u64::from(piece) * u64::from(PIECE);
        let stop = start + u64::from(info.piece_len(piece));
        let overlaps = start < b.offset + b.length && b.offset < stop;
        assert_eq!(have.get(piece), overlaps, "piece {piece}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_read_is_cancelled_and_the_stream_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let (path, seeder, _engine, handle) = one_file_leecher(dir.path()).await;
    let stream = handle.open_stream(0).unwrap();

    // No peer yet: the read waits, and giving up on it drops it.
    let early = tokio::time::timeout(Duration::from_millis(200), stream.read_at(900_000, 1000));
    assert!(early.await.is_err());
    assert!(!stream.is_available(900_000, 1000));

    handle.add_peers(vec![seeder.addr]).unwrap();
    let expected = std::fs::read(&path).unwrap();
    assert_eq!(
        read(&stream, 900_000, 1000).await,
        &expected[900_000..901_000]
    );
    assert_eq!(read(&stream, 0, 4096).await, &expected[..4096]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_read_is_served_before_the_bytes_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed/film.bin");
    write_data(&path, 8 * 1024 * 1024, 9);
    let torrent = dir.path().join("film.torrent");
    // 128 pieces of 64 KiB; head and tail (1 MiB each) are pieces 0-15
    // and 112-127. At 2 MB/s the whole file takes about 4 s.
    create_torrent(&path, &torrent, 2 * PIECE, &[]);
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("seed"),
        &["--upload-limit".into(), "2000000".into()],
    );
    let (_engine, handle) = leecher(dir.path(), &torrent).await;
    let stream = handle.open_stream(0).unwrap();
    handle.add_peers(vec![seeder.addr]).unwrap();

    // A read at 5 MiB (piece 80), as after a seek.
    let offset = 5 * 1024 * 1024;
    let expected = std::fs::read(&path).unwrap();
    assert_eq!(
        read(&stream, offset as u64, 65536).await,
        &expected[offset..offset + 65536]
    );
    let had = handle.verified_pieces().borrow().clone();
    // Head, tail and the window's first pieces, but few of the 64 pieces
    // in between that a sequential download would have needed first.
    let between = (16..80).filter(|&p| had.get(p)).count();
    assert!(
        between < 16,
        "{between} of the 64 pieces in between came first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_stream_stops_its_file_and_the_next_stream_fetches_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // a.bin (1.5 MB) would take about 5 s at this rate.
    let (data, seeder, _engine, handle) = multi_file_leecher(dir.path(), 300_000).await;
    let info = handle.metainfo().info.clone();
    let index = |name: &str| {
        info.files
            .iter()
            .position(|f| f.path.ends_with(name))
            .unwrap()
    };
    let (a, d) = (index("a.bin"), index("d.bin"));
    handle.add_peers(vec![seeder.addr]).unwrap();

    // A player starts on a.bin, then moves to d.bin (the next episode);
    // the old stream may close only after the new one opened.
    let first = handle.open_stream(a).unwrap();
    read(&first, 0, 65536).await;
    let next = handle.open_stream(d).unwrap();
    drop(first);
    let expected = std::fs::read(data.join("d.bin")).unwrap();
    assert_eq!(read(&next, 0, expected.len()).await, expected);

    // d.bin alone completes what is wanted: a.bin is no longer.
    let mut stats = handle.stats_watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .expect("the torrent still wants the first file")
    .unwrap();
    let entry = &info.files[a];
    let have = handle.verified_pieces().borrow().clone();
    let a_pieces: Vec<u32> = (0..info.piece_count())
        .filter(|&piece| {
            let start = u64::from(piece) * u64::from(PIECE);
            start >= entry.offset && start + u64::from(PIECE) <= entry.offset + entry.length
        })
        .collect();
    let had = a_pieces.iter().filter(|&&piece| have.get(piece)).count();
    assert!(
        had < a_pieces.len() / 2,
        "{had} of a.bin's {} pieces were fetched after its stream closed",
        a_pieces.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_added_with_a_file_selection_never_fetches_pieces_of_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    // Unlimited: the seeder unchokes at once and would fill the first
    // requests with pieces of any file the torrent started out wanting.
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    let magnet = magnet_uri(&metainfo, &[seeder.addr], &[]);
    let engine = Engine::start(loopback_config(dir.path().join("download")))
        .await
        .unwrap();
    let wanted = |info: &Info| -> Vec<bool> {
        info.files
            .iter()
            .map(|file| file.path.ends_with("d.bin"))
            .collect()
    };
    let handle = tokio::time::timeout(
        Duration::from_secs(60),
        engine.add_torrent_selecting(TorrentSource::from_argument(&magnet).unwrap(), wanted),
    )
    .await
    .expect("metadata in time")
    .unwrap();

    let mut stats = handle.stats_watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .expect("d.bin completes")
    .unwrap();
    let info = &handle.metainfo().info;
    let d = info
        .files
        .iter()
        .find(|file| file.path.ends_with("d.bin"))
        .unwrap();
    let have = handle.verified_pieces().borrow().clone();
    let outside: Vec<u32> = (0..info.piece_count())
        .filter(|&piece| {
            let start = u64::from(piece) * u64::from(PIECE);
            let end = start + u64::from(info.piece_len(piece));
            have.get(piece) && (end <= d.offset || start >= d.offset + d.length)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "pieces {outside:?} hold no byte of d.bin but were fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_rate_comes_with_the_first_verified_piece_not_a_tick_later() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, seeder, _engine, handle) = one_file_leecher(dir.path()).await;
    // A tick or more passes before the first peer: nothing to measure.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(handle.stats().download_rate, 0.0);

    let mut verified = handle.verified_pieces();
    handle.add_peers(vec![seeder.addr]).unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        verified.wait_for(|have| have.count() > 0),
    )
    .await
    .expect("a piece verified")
    .unwrap();
    // The player's startup rule, woken by the piece, finds a rate to plan
    // with; with none it would wait for the whole file.
    let stats = handle.stats();
    assert!(stats.download_rate > 0.0, "{stats:?}");
}
