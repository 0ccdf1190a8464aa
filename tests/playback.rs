//! Headless playback through the real `Player`: generated media decoded to
//! the end, frames counted on the video sink.

mod common;

use common::{TEN_SECONDS, file_uri, ten_second_video, write_video};
use gst::prelude::*;
use piecewise::player::sample::SampleFormat;
use piecewise::player::{PlaybackError, PlaybackState, Player, PlayerEvent, PlayerSinks};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Generous: decoding 10 s of small video unsynchronised takes well under
/// a second, but CI machines are shared.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A `fakesink` as fast as the decoder, counting the buffers it receives.
fn counting_sink(counter: &Arc<AtomicU32>) -> gst::Element {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("signal-handoffs", true)
        .build()
        .expect("fakesink");
    let counter = counter.clone();
    sink.connect("handoff", false, move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        None
    });
    sink
}

fn headless_player(frames: &Arc<AtomicU32>) -> (Player, async_channel::Receiver<PlayerEvent>) {
    piecewise::player::init().expect("GStreamer initialises");
    let audio = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()
        .expect("fakesink");
    Player::new(PlayerSinks {
        video: counting_sink(frames),
        audio: Some(audio),
    })
    .expect("player")
}

/// A player into real-time sinks, so the playhead moves at the speed of a
/// clock.
fn realtime_player() -> (Player, async_channel::Receiver<PlayerEvent>) {
    piecewise::player::init().expect("GStreamer initialises");
    let realtime_sink = || {
        gst::ElementFactory::make("fakesink")
            .property("sync", true)
            .build()
            .expect("fakesink")
    };
    Player::new(PlayerSinks {
        video: realtime_sink(),
        audio: Some(realtime_sink()),
    })
    .expect("player")
}

/// Collects events until `last` says stop; panics on timeout.
fn events_until(
    events: &async_channel::Receiver<PlayerEvent>,
    last: impl Fn(&PlayerEvent) -> bool,
) -> Vec<PlayerEvent> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(event) => {
                let done = last(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("timed out; events so far: {seen:?}");
}

fn is_final(event: &PlayerEvent) -> bool {
    matches!(event, PlayerEvent::Ended { .. } | PlayerEvent::Failed(_))
}

fn plays_every_frame_to_the_end(format: SampleFormat) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(format));
    let frames = Arc::new(AtomicU32::new(0));
    let (player, events) = headless_player(&frames);
    player.open(&file_uri(&path));
    let seen = events_until(&events, is_final);
    drop(player);

    assert!(
        seen.contains(&PlayerEvent::State(PlaybackState::Playing)),
        "{seen:?}"
    );
    let Some(PlayerEvent::Ended {
        position,
        duration,
        complete,
    }) = seen.last()
    else {
        panic!("did not end normally: {seen:?}");
    };
    assert!(complete, "ended early at {position:?} of {duration:?}");
    let duration = duration.expect("duration known");
    assert!(
        duration.mseconds().abs_diff(10_000) <= 100,
        "duration {duration}"
    );
    assert_eq!(frames.load(Ordering::Relaxed), TEN_SECONDS);
}

#[test]
fn h264_aac_mp4_plays_all_250_frames_to_the_end() {
    plays_every_frame_to_the_end(SampleFormat::Mp4H264Aac);
}

#[test]
fn vp9_opus_webm_plays_all_250_frames_to_the_end() {
    plays_every_frame_to_the_end(SampleFormat::WebmVp9Opus);
}

#[test]
fn truncated_file_ends_early_and_is_reported_incomplete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    // The index sits at the start (faststart), so the demuxer knows the
    // full duration while the media data stops at about half.
    let bytes = std::fs::read(&path).expect("read video");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate video");

    let frames = Arc::new(AtomicU32::new(0));
    let (player, events) = headless_player(&frames);
    player.open(&file_uri(&path));
    let seen = events_until(&events, is_final);
    drop(player);

    match seen.last() {
        Some(PlayerEvent::Ended { complete, .. }) => assert!(!complete, "{seen:?}"),
        other => panic!("expected an early end, got {other:?}"),
    }
    let decoded = frames.load(Ordering::Relaxed);
    assert!(
        decoded > 0 && decoded < TEN_SECONDS,
        "decoded {decoded} frames"
    );
}

#[test]
fn missing_file_fails_with_not_found() {
    let frames = Arc::new(AtomicU32::new(0));
    let (player, events) = headless_player(&frames);
    player.open("file:///nonexistent/piecewise-test.mp4");
    let seen = events_until(&events, is_final);
    assert!(
        matches!(
            seen.last(),
            Some(PlayerEvent::Failed(PlaybackError::NotFound(_)))
        ),
        "{seen:?}"
    );
    assert!(seen.contains(&PlayerEvent::State(PlaybackState::Error)));
}

#[test]
fn text_file_fails_as_not_a_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.mp4");
    std::fs::write(&path, "These are notes, not a video.\n".repeat(200)).expect("write");
    let frames = Arc::new(AtomicU32::new(0));
    let (player, events) = headless_player(&frames);
    player.open(&file_uri(&path));
    let seen = events_until(&events, is_final);
    assert!(
        matches!(
            seen.last(),
            Some(PlayerEvent::Failed(PlaybackError::NotAVideo(_)))
        ),
        "{seen:?}"
    );
}

#[test]
fn pause_holds_the_playhead_and_seek_resumes_at_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let (player, events) = realtime_player();
    player.open(&file_uri(&path));
    events_until(&events, |e| {
        *e == PlayerEvent::State(PlaybackState::Playing)
    });

    player.pause();
    events_until(&events, |e| *e == PlayerEvent::State(PlaybackState::Paused));
    // The player reports the playhead only when it moves: once the pause
    // has settled, silence means it holds.
    std::thread::sleep(Duration::from_secs(1));
    let _settling: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    std::thread::sleep(Duration::from_millis(600));
    let while_paused: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert_eq!(
        last_position(&while_paused),
        None,
        "the playhead moved while paused"
    );

    let target = gst::ClockTime::from_seconds(8);
    player.seek(target);
    events_until(&events, |e| {
        *e == PlayerEvent::State(PlaybackState::Seeking)
    });
    events_until(&events, |e| *e == PlayerEvent::State(PlaybackState::Paused));
    player.play();
    let seen = events_until(&events, is_final);
    drop(player);

    assert!(
        seen.contains(&PlayerEvent::State(PlaybackState::Playing)),
        "{seen:?}"
    );
    let positions: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::Progress { position, .. } => Some(*position),
            _ => None,
        })
        .collect();
    assert!(
        positions
            .iter()
            .all(|p| *p >= target - gst::ClockTime::from_mseconds(500)),
        "playhead before the seek target: {positions:?}"
    );
    assert!(
        matches!(seen.last(), Some(PlayerEvent::Ended { complete: true, .. })),
        "{seen:?}"
    );
}

fn last_position(events: &[PlayerEvent]) -> Option<gst::ClockTime> {
    events.iter().rev().find_map(|e| match e {
        PlayerEvent::Progress { position, .. } => Some(*position),
        _ => None,
    })
}

#[test]
fn opening_another_video_replaces_the_playing_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let one_second = piecewise::player::sample::SampleVideo {
        frames: 25,
        ..ten_second_video(SampleFormat::WebmVp9Opus)
    };
    let short = write_video(dir.path(), one_second);
    let (player, events) = realtime_player();
    player.open(&file_uri(&long));
    events_until(&events, |e| {
        *e == PlayerEvent::State(PlaybackState::Playing)
    });
    player.open(&file_uri(&short));
    let seen = events_until(&events, is_final);
    drop(player);

    let ends: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, PlayerEvent::Ended { .. }))
        .collect();
    assert_eq!(ends.len(), 1, "{seen:?}");
    let Some(PlayerEvent::Ended {
        duration: Some(duration),
        complete: true,
        ..
    }) = seen.last()
    else {
        panic!("the second video did not play to its end: {seen:?}");
    };
    assert!(
        duration.mseconds().abs_diff(1_000) <= 100,
        "duration {duration}"
    );
}

#[test]
fn opening_at_a_start_position_begins_there_without_a_user_seek() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let (player, events) = realtime_player();
    let start = gst::ClockTime::from_seconds(6);
    player.open_at(&file_uri(&path), None, Some(start));
    let seen = events_until(&events, is_final);
    drop(player);

    // Moved once prerolled, before playback began, and not as a seek the
    // user would see.
    let moved = seen
        .iter()
        .position(|e| *e == PlayerEvent::StartSeek(start))
        .unwrap_or_else(|| panic!("no start seek: {seen:?}"));
    let playing = seen
        .iter()
        .position(|e| *e == PlayerEvent::State(PlaybackState::Playing))
        .unwrap_or_else(|| panic!("never played: {seen:?}"));
    assert!(
        !seen.contains(&PlayerEvent::State(PlaybackState::Seeking)),
        "{seen:?}"
    );
    assert!(
        seen[moved..].iter().all(|e| match e {
            PlayerEvent::Progress { position, .. } =>
                *position >= start - gst::ClockTime::from_mseconds(500),
            _ => true,
        }),
        "the playhead went back before the start: {seen:?}"
    );
    assert!(moved < playing, "{seen:?}");
    assert!(
        matches!(seen.last(), Some(PlayerEvent::Ended { complete: true, .. })),
        "{seen:?}"
    );
}

#[test]
fn playing_is_reported_only_once_prerolled_so_a_seek_right_then_is_a_real_seek() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let (player, events) = realtime_player();
    player.open(&file_uri(&path));
    // What a session's startup rule does when the data is all there: held
    // for data, then released at once, before the pipeline prerolled.
    player.set_data_ready(false);
    player.set_data_ready(true);
    events_until(&events, |e| {
        *e == PlayerEvent::State(PlaybackState::Playing)
    });
    let target = gst::ClockTime::from_seconds(6);
    player.seek(target);
    let seen = events_until(&events, is_final);
    drop(player);

    let seeking = seen
        .iter()
        .position(|e| *e == PlayerEvent::State(PlaybackState::Seeking))
        .unwrap_or_else(|| panic!("the seek did not run as one: {seen:?}"));
    assert!(
        !seen.iter().any(|e| matches!(e, PlayerEvent::StartSeek(_))),
        "the seek became a start position: {seen:?}"
    );
    assert!(
        seen[seeking..].iter().all(|e| match e {
            PlayerEvent::Progress { position, .. } =>
                *position >= target - gst::ClockTime::from_mseconds(500),
            _ => true,
        }),
        "the playhead went back before the target: {seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(PlayerEvent::Ended { complete: true, .. })),
        "{seen:?}"
    );
}
