//! `piecewise play --headless` end to end: a libtorrent seeder on 127.0.0.1
//! serves a video generated with GStreamer, Piecewise plays it in real time
//! through the engine's stream and writes its stats.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::peers::{create_torrent, libtorrent, write_data};
use common::swarm::{PIECE, Swarm};
use common::{play_headless, ten_second_video, write_video};
use piecewise::engine::metainfo::Metainfo;
use piecewise::player::sample::SampleFormat;
use piecewise::stats::schema::{EventKind, Run};

fn first(run: &Run, wanted: fn(&EventKind) -> bool) -> Option<f64> {
    run.events
        .iter()
        .find(|event| wanted(&event.kind))
        .map(|event| event.t_s)
}

/// What every successful run's stats must satisfy.
fn assert_consistent(run: &Run, video: &Path) {
    let summary = &run.summary;
    let torrent = run.torrent.as_ref().expect("torrent recorded");
    assert_eq!(
        torrent.file_size,
        std::fs::metadata(video).unwrap().len(),
        "the played file"
    );
    let duration = torrent.duration_s.expect("duration known");
    assert!((duration - 10.0).abs() < 0.5, "duration {duration}");
    let first_frame = summary.first_frame_s.expect("a first frame");
    let after_add = summary.first_frame_after_add_s.expect("added before it");
    assert!(0.0 < after_add && after_add <= first_frame);
    assert!(summary.play_start_s.expect("playback started") >= first_frame);
    assert!(
        run.events.windows(2).all(|w| w[0].t_s <= w[1].t_s),
        "events in time order"
    );
    assert!(
        run.series.windows(2).all(|w| w[0].t_s < w[1].t_s),
        "series increasing"
    );
    assert!(summary.bytes_down > 0);
    assert!(run.series.iter().any(|sample| sample.pieces_had > 0));
    let order = [
        first(run, |k| *k == EventKind::TorrentAdded),
        first(run, |k| *k == EventKind::FirstPeer),
        first(run, |k| *k == EventKind::FirstFrame),
        first(run, |k| *k == EventKind::PlaybackStarted),
    ];
    assert!(
        order.windows(2).all(|w| w[0].unwrap() <= w[1].unwrap()),
        "added, first peer, first frame, playback: {order:?}"
    );
}

fn headless_playback_plays_without_stalls(format: SampleFormat) {
    let swarm = Swarm::start(format, 0);
    let peers = [swarm.seeder.addr.to_string()];
    let (output, run) = play_headless(
        swarm.dir.path(),
        &swarm.torrent,
        &peers,
        &["--play-seconds", "3"],
    );
    assert!(output.status.success(), "play failed");
    let run = run.expect("stats written");
    assert_consistent(&run, &swarm.video);
    assert!(
        run.summary.played_s >= 3.0,
        "played {}",
        run.summary.played_s
    );
    assert_eq!(run.summary.stall_count, 0, "stalls with ample bandwidth");
    assert!(first(&run, |k| *k == EventKind::PrebufferDone).is_some());
}

#[test]
fn mp4_with_its_index_at_the_end_plays_from_the_swarm_without_stalls() {
    headless_playback_plays_without_stalls(SampleFormat::Mp4H264AacIndexAtEnd);
}

#[test]
fn webm_plays_from_the_swarm_without_stalls() {
    headless_playback_plays_without_stalls(SampleFormat::WebmVp9Opus);
}

#[test]
fn seeder_slower_than_the_bitrate_stalls_playback_which_then_resumes() {
    // Measure the bitrate first, then seed at 70 % of it.
    let probe = tempfile::tempdir().unwrap();
    let video = write_video(probe.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let bitrate = std::fs::metadata(&video).unwrap().len() / 10;
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, bitrate * 7 / 10);
    let peers = [swarm.seeder.addr.to_string()];
    // Starting with the first frame, as a naive player would, must stall.
    let (output, run) = play_headless(
        swarm.dir.path(),
        &swarm.torrent,
        &peers,
        &["--start", "immediate", "--play-seconds", "4"],
    );
    assert!(output.status.success(), "play failed");
    let run = run.expect("stats written");
    assert_consistent(&run, &swarm.video);
    assert!(run.summary.stall_count >= 1, "no stall recorded");
    let stall_end = first(&run, |k| matches!(k, EventKind::StallEnd { .. })).unwrap();
    // Resumed: the playhead moved on after the stall.
    let before = run
        .series
        .iter()
        .filter(|s| s.t_s <= stall_end)
        .map(|s| s.position_s)
        .fold(0.0, f64::max);
    let after = run.series.last().unwrap().position_s;
    assert!(
        after > before + 0.5,
        "position {before} → {after} after the stall"
    );
}

#[test]
fn seek_to_the_middle_lands_within_a_second_and_its_resume_time_is_recorded() {
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, 0);
    let peers = [swarm.seeder.addr.to_string()];
    let (output, run) = play_headless(
        swarm.dir.path(),
        &swarm.torrent,
        &peers,
        &["--seek-at", "1", "--seek-to", "0.5", "--play-seconds", "3"],
    );
    assert!(output.status.success(), "play failed");
    let run = run.expect("stats written");
    assert_consistent(&run, &swarm.video);
    let (seek_at, target) = run
        .events
        .iter()
        .find_map(|event| match event.kind {
            EventKind::Seek { target_s } => Some((event.t_s, target_s)),
            _ => None,
        })
        .expect("a seek");
    assert!((target - 5.0).abs() < 0.5, "target {target}");
    let resumed = first(&run, |k| *k == EventKind::SeekResumed).expect("seek resumed");
    let resume_s = run.summary.seek_resume_s.expect("seek resume time");
    assert!((resume_s - (resumed - seek_at)).abs() < 1e-6);
    // The first sample after the resume: where playback landed plus the
    // time played since.
    let sample = run
        .series
        .iter()
        .find(|s| s.t_s > resumed)
        .expect("a sample after the seek");
    let landed = sample.position_s - (sample.t_s - resumed);
    assert!(
        (landed - target).abs() <= 1.0,
        "landed at {landed} for {target}"
    );
}

#[test]
fn torrent_without_a_playable_file_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/notes.bin");
    write_data(&data, 100_000, 3);
    let torrent = dir.path().join("notes.torrent");
    create_torrent(&data, &torrent, PIECE, &[]);
    let (output, _) = play_headless(dir.path(), &torrent, &[], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("contains no video file that can be played"),
        "{stderr}"
    );
}

#[test]
fn file_that_is_not_a_torrent_is_reported_on_one_line_naming_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello\n").unwrap();
    let (output, _) = play_headless(dir.path(), &notes, &[], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .find(|line| line.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert!(error.contains("notes.txt"), "{error}");
    assert_eq!(error.matches("not valid bencode").count(), 1, "{error}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
}

#[test]
fn magnet_link_plays_once_its_metadata_arrives_from_the_given_peer() {
    let swarm = Swarm::start(SampleFormat::WebmVp9Opus, 0);
    let info_hash = Metainfo::from_bytes(&std::fs::read(&swarm.torrent).unwrap())
        .unwrap()
        .info_hash;
    let magnet = format!("magnet:?xt=urn:btih:{}", info_hash.to_hex());
    let peers = [swarm.seeder.addr.to_string()];
    let (output, run) = play_headless(
        swarm.dir.path(),
        Path::new(&magnet),
        &peers,
        &["--play-seconds", "2"],
    );
    assert!(output.status.success(), "play failed");
    let run = run.expect("stats written");
    assert_consistent(&run, &swarm.video);
    assert!(
        run.summary.played_s >= 2.0,
        "played {}",
        run.summary.played_s
    );
}

#[test]
fn magnet_link_without_peers_or_trackers_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _) = play_headless(
        dir.path(),
        Path::new("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"),
        &[],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("names no peers and no trackers"),
        "{stderr}"
    );
}

#[test]
fn no_reachable_peer_fails_after_the_timeout() {
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, 0);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let (output, run) = play_headless(
        swarm.dir.path(),
        &swarm.torrent,
        &[closed],
        &["--timeout", "3"],
    );
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("No peers"), "{stderr}");
    let run = run.expect("stats written on failure too");
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Error { .. }))
    );
}

#[test]
fn subtitle_file_beside_the_video_in_the_torrent_is_loaded_as_a_text_track() {
    let dir = tempfile::tempdir().unwrap();
    let movie = dir.path().join("seed/movie");
    std::fs::create_dir_all(&movie).unwrap();
    let video = write_video(&movie, ten_second_video(SampleFormat::Mp4H264Aac));
    std::fs::rename(&video, movie.join("Movie.mp4")).unwrap();
    std::fs::write(
        movie.join("Movie.vtt"),
        "WEBVTT\n\n00:00:00.500 --> 00:00:04.000\nHello from the torrent\n",
    )
    .unwrap();
    let torrent = dir.path().join("movie.torrent");
    create_torrent(&movie, &torrent, PIECE, &[]);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    let (output, _) = play_headless(
        dir.path(),
        &torrent,
        &[seeder.addr.to_string()],
        &["--play-seconds", "1"],
    );
    assert!(output.status.success(), "play failed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Movie.vtt"),
        "subtitles not loaded: {stderr}"
    );
    // Tracks are logged as playbin links them, the text track among them.
    assert!(
        stderr
            .lines()
            .any(|line| line.contains(" tracks ") && !line.contains("text=[]")),
        "no text track: {stderr}"
    );
}
