//! The real `piecewise` binary in its window, on a private X server: video
//! frames reach the screen, and bad files show the error page.

mod common;

use common::{Desktop, artifact_dir, differing_pixels, ten_second_video, write_video};
use piecewise::player::sample::SampleFormat;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Start-up of GTK and GStreamer on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The video area inside the 960×600 window at the screen's top-left
/// corner (there is no window manager to move it): below the header bar,
/// above the controls, clear of the letterbox bars.
const VIDEO_AREA_CROP: &str = "560x400+200+90";

/// Colour statistics of part of a screenshot.
struct Colours {
    distinct: u32,
    saturation: f64,
}

fn colours(screenshot: &Path, crop: &str) -> Colours {
    let output = Command::new("convert")
        .arg(screenshot)
        .args([
            "-crop", crop, "+repage", "-format", "%k ", "-write", "info:-",
        ])
        .args([
            "-colorspace",
            "HSL",
            "-channel",
            "G",
            "-separate",
            "-format",
            "%[fx:mean]",
            "info:-",
        ])
        .output()
        .expect("convert runs (package imagemagick)");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let distinct = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    let saturation = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
    Colours {
        distinct,
        saturation,
    }
}

/// A decoded test-pattern frame is colourful (saturated bars) and busy
/// (noise, scaled edges); window chrome, black and error pages are neither.
fn holds_video_frame(c: &Colours) -> bool {
    c.distinct >= 256 && c.saturation >= 0.3
}

/// Screenshots until one holds a video frame (the first frame reaches the
/// screen a frame-clock tick after playback starts) or 20 s pass; returns
/// the last one's colours.
fn wait_for_video_frame(desktop: &Desktop, screenshot: &Path) -> Colours {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        desktop.screenshot(screenshot);
        let found = colours(screenshot, VIDEO_AREA_CROP);
        if holds_video_frame(&found) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// More pixels than the status line and the clock change by: the video moved.
const MOVED_PIXELS: f64 = 1000.0;

/// Screenshots into `later` until it differs from `first` by more than
/// `MOVED_PIXELS` or 20 s pass; returns how many pixels differ last.
fn wait_for_motion(desktop: &Desktop, first: &Path, later: &Path) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        desktop.screenshot(later);
        let changed = differing_pixels(first, later);
        if changed > MOVED_PIXELS || Instant::now() > deadline {
            return changed;
        }
    }
}

#[test]
fn window_shows_frames_of_the_playing_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let desktop = Desktop::start();
    let mut app = desktop.launch(&[video.as_os_str()]);
    app.wait_for_line("playback started", START_TIMEOUT);

    let screenshot = artifact_dir().join("gui-playing.png");
    let first = wait_for_video_frame(&desktop, &screenshot);
    assert!(
        holds_video_frame(&first),
        "no video frame on screen ({} colours, saturation {:.2}); see {}",
        first.distinct,
        first.saturation,
        screenshot.display()
    );

    // The pattern scrolls: a later frame differs from this one.
    let later = artifact_dir().join("gui-playing-later.png");
    let changed = wait_for_motion(&desktop, &screenshot, &later);
    assert!(
        changed > MOVED_PIXELS,
        "the picture did not move ({changed} pixels changed)"
    );

    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(
        !log.iter().any(|line| line.contains("panicked")),
        "{log:#?}"
    );
}

fn shows_error_page(file: &OsStr, sentence: &str, screenshot_name: &str) {
    let desktop = Desktop::start();
    let mut app = desktop.launch(&[file]);
    let line = app.wait_for_line("showing error", START_TIMEOUT);
    assert!(line.contains(sentence), "{line}");
    // The page is on screen once the window is mapped: poll until the
    // screen is no longer empty, then check that it is no video.
    let screenshot = artifact_dir().join(screenshot_name);
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        desktop.screenshot(&screenshot);
        let found = colours(&screenshot, VIDEO_AREA_CROP);
        if found.distinct > 8 || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        page.distinct > 8,
        "window never drawn; see {}",
        screenshot.display()
    );
    assert!(!holds_video_frame(&page), "video instead of the error page");
    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(
        !log.iter().any(|line| line.contains("panicked")),
        "{log:#?}"
    );
    let errors = log.iter().filter(|line| line.contains("showing error"));
    assert_eq!(
        errors.count(),
        1,
        "a later error replaced the first: {log:#?}"
    );
}

#[test]
fn missing_file_shows_error_page_and_exits_cleanly() {
    shows_error_page(
        OsStr::new("/nonexistent/piecewise/missing.mp4"),
        "The file does not exist",
        "gui-missing-file.png",
    );
}

#[test]
fn text_file_shows_not_a_video_error_page_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "Shopping list: milk, eggs, a video player.\n".repeat(100),
    )
    .expect("write");
    shows_error_page(path.as_os_str(), "not a video", "gui-not-a-video.png");
}

/// What the window logs as it puts a link among the recent torrents.
const REMEMBERED: &str = "remembered among the recent torrents";

/// The pids of the demo's seeders, from its "demo seeder started" lines.
fn demo_seeder_pids(app: &mut common::App) -> Vec<u32> {
    (0..3)
        .map(|_| {
            let line = app.wait_for_line("demo seeder started", START_TIMEOUT);
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("pid="))
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("no pid in {line}"))
        })
        .collect()
}

/// Whether `pid` is still a running `piecewise seed` process.
fn is_seeder(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg == b"seed"))
}

fn assert_seeders_gone(pids: &[u32]) {
    // The kernel delivers the parent-death signal a moment after the exit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&pid| is_seeder(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<_> = pids.iter().filter(|&&pid| is_seeder(pid)).collect();
    assert!(alive.is_empty(), "seeders outlived the demo: {alive:?}");
}

#[test]
fn demo_streams_from_its_own_seeders_and_stops_them_with_the_window() {
    let cache = tempfile::tempdir().expect("tempdir");
    let env = [("XDG_CACHE_HOME", cache.path())];
    let desktop = Desktop::start();

    let mut first = desktop.launch_with_env(&[OsStr::new("demo")], &env);
    first.wait_for_line("generating the demo video", START_TIMEOUT);
    let seeders = demo_seeder_pids(&mut first);
    assert!(seeders.iter().all(|&pid| is_seeder(pid)));
    let opening = first.wait_for_line("opening torrent", START_TIMEOUT);
    assert!(
        opening.contains("Magnet") && opening.contains("127.0.0.1"),
        "the window does not open the local swarm: {opening}"
    );
    // The seeders are rate-limited: the status line says it is buffering
    // before it says it plays.
    first.wait_for_line("status line: Buffering", START_TIMEOUT);
    first.wait_for_line("status line: Playing", START_TIMEOUT);
    first.wait_for_line("playback started", START_TIMEOUT);
    let first_frame = artifact_dir().join("gui-demo-first-frame.png");
    let frame = wait_for_video_frame(&desktop, &first_frame);
    assert!(
        holds_video_frame(&frame),
        "no video frame from the swarm ({} colours, saturation {:.2}); see {}",
        frame.distinct,
        frame.saturation,
        first_frame.display()
    );
    // The first frame reaches the screen before the window repaints its
    // status line after Playing: the screenshot waits for the picture to
    // move, so it shows playback.
    let screenshot = artifact_dir().join("gui-demo.png");
    let changed = wait_for_motion(&desktop, &first_frame, &screenshot);
    assert!(
        changed > MOVED_PIXELS,
        "the demo's picture did not move ({changed} pixels changed); see {}",
        screenshot.display()
    );
    let (status, log) = first.terminate();
    assert!(status.success(), "exit status {status}; {log:#?}");
    // Its magnet names ports that close with the demo: not worth a
    // place among the recent torrents (the window tests see one taken).
    assert!(
        !log.iter().any(|line| line.contains(REMEMBERED)),
        "the demo's magnet went into the recent torrents: {log:#?}"
    );
    assert_seeders_gone(&seeders);
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("piecewise"))
        .expect("demo cache directory")
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one cached video, no partial file: {cached:?}"
    );

    // From the cache, and killed outright: its seeders die with it.
    let mut second = desktop.launch_with_env(&[OsStr::new("demo")], &env);
    let seeders = demo_seeder_pids(&mut second);
    assert!(
        !second.log.iter().any(|line| line.contains("generating")),
        "the cached video was generated again: {:#?}",
        second.log
    );
    second.kill();
    assert_seeders_gone(&seeders);
}
