//! Streaming in real time from throttled libtorrent seeders on 127.0.0.1:
//! a reader consuming at the media bitrate, started as the player starts
//! (the head and the tail readable, then the player's startup rule), never
//! waits for data.

mod common;

use std::time::{Duration, Instant};

use common::peers::{create_torrent, libtorrent, write_data};
use common::realtime::{STALL_THRESHOLD, play};
use piecewise::engine::handle::{Engine, EngineConfig, TorrentSource};
use piecewise::player::session::{StartupWake, startup_verdict};

/// 20 s of "media" at 4 Mbit/s.
const BITRATE: u64 = 500_000;
const MEDIA_SECS: u64 = 20;
const PIECE: u32 = 64 * 1024;
/// Three seeders whose upload limits add up to 1.5× the bitrate.
const SEEDERS: u64 = 3;
const SEEDER_UPLOAD: u64 = BITRATE * 3 / 2 / SEEDERS;
/// What a demuxer reads before its first frame: the header at the start
/// and an index at the end.
const HEADER_BYTES: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_reader_never_stalls_at_one_and_a_half_times_the_bitrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed/film.bin");
    let length = BITRATE * MEDIA_SECS;
    write_data(&path, length as usize, 11);
    let torrent = dir.path().join("film.torrent");
    create_torrent(&path, &torrent, PIECE, &[]);
    let limit = ["--upload-limit".to_owned(), SEEDER_UPLOAD.to_string()];
    let seeders: Vec<_> = (0..SEEDERS)
        .map(|_| libtorrent("seed", &torrent, &dir.path().join("seed"), &limit))
        .collect();

    let mut config = EngineConfig::new(dir.path().join("download"));
    config.listen_ip = [127, 0, 0, 1].into();
    let engine = Engine::start(config).await.unwrap();
    let started = Instant::now();
    let handle = engine
        .add_torrent(TorrentSource::File(torrent.clone()))
        .await
        .unwrap();
    let stream = handle.open_stream(0).unwrap();
    handle
        .add_peers(seeders.iter().map(|s| s.addr).collect())
        .unwrap();

    // As a demuxer starts: the header, then the index at the end.
    let startup = async {
        stream.read_at(0, HEADER_BYTES).await.unwrap();
        stream
            .read_at(length - HEADER_BYTES as u64, HEADER_BYTES)
            .await
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(20), startup)
        .await
        .expect("head and tail did not arrive");
    let first_frame = started.elapsed();
    // The player holds playback until its startup rule expects the buffer
    // to last (a start with nothing buffered stalls on any hiccup of a
    // seeder's rate limiter).
    let mut wake = StartupWake::new(handle.stats_watch(), handle.verified_pieces());
    wake.wait_until(|| {
        let rate = handle.stats().download_rate;
        startup_verdict(&stream, 0.0, BITRATE as f64, None, rate, started.elapsed()).allows()
    })
    .await;
    let start = started.elapsed();

    let stalls = tokio::time::timeout(
        Duration::from_secs(MEDIA_SECS * 2),
        play(&stream, 0, length, BITRATE as f64),
    )
    .await
    .expect("playback did not finish");
    assert_eq!(
        stalls.count(),
        0,
        "stalls longer than {STALL_THRESHOLD:?} after a first frame at {first_frame:?} and a start at {start:?}: {:?}",
        stalls.durations
    );
    let expected = std::fs::read(&path).unwrap();
    let tail = stream.read_at(length - 1000, 1000).await.unwrap();
    assert_eq!(&tail[..], &expected[expected.len() - 1000..]);
}
