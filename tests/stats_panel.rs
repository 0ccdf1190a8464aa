//! The stats panel in the window, driven over D-Bus on a private X server:
//! live charts while a torrent plays from libtorrent seeders, the export
//! action, and exported runs overlaid for comparison.

mod common;

use common::swarm::TrackedSwarm;
use common::{Desktop, artifact_dir};
use piecewise::stats::chart::ChartStyle;
use piecewise::stats::export;
use piecewise::stats::recorder::Recorder;
use piecewise::stats::schema::{EventKind, Run, Sample, Summary};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Start-up of GTK, GStreamer and the swarm on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// An action's effect, or a chart's next redraw, on a loaded machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

const WINDOW_PATH: &str = "/io/github/piecewise/Piecewise/window/1";

/// Where the panel sits on the screen: the window (960×600, the schema's
/// default size) is at the top left of the X screen without a window
/// manager, and the panel (440 wide) is its right-hand side.
const PANEL: (u32, u32, u32, u32) = (525, 50, 430, 545);

/// Pixels of a line in a series colour that make a chart "drawn": a 2 px
/// line across a 400 px chart has several hundred; axis text has none.
const DRAWN_LINE_PIXELS: usize = 150;

/// How many pixels of the panel have exactly `colour` (a series colour of
/// either style).
fn pixels_of(screenshot: &Path, colour: [u8; 3]) -> usize {
    let image = image::open(screenshot).expect("a PNG").to_rgb8();
    let (x, y, width, height) = PANEL;
    image::imageops::crop_imm(&image, x, y, width, height)
        .to_image()
        .pixels()
        .filter(|pixel| pixel.0 == colour)
        .count()
}

/// The `index`th series colour in the light and the dark style.
fn series_colours(index: usize) -> [[u8; 3]; 2] {
    [ChartStyle::LIGHT, ChartStyle::DARK].map(|style| {
        let colour = style.palette[index];
        [colour.0, colour.1, colour.2]
    })
}

fn line_pixels(screenshot: &Path, series: usize) -> usize {
    series_colours(series)
        .into_iter()
        .map(|colour| pixels_of(screenshot, colour))
        .max()
        .unwrap_or(0)
}

/// Screenshots until every one of `series` has a drawn line in the panel.
fn screenshot_with_lines(desktop: &Desktop, name: &str, series: &[usize]) -> PathBuf {
    let path = artifact_dir().join(name);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        desktop.screenshot(&path);
        let counts: Vec<usize> = series
            .iter()
            .map(|&index| line_pixels(&path, index))
            .collect();
        if counts.iter().all(|&count| count >= DRAWN_LINE_PIXELS) {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "no lines in the series colours {series:?} ({counts:?} pixels); see {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn stats_panel_shows_live_charts_during_torrent_playback_and_exports_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Slow seeders, so that playback starts with data still arriving.
    let swarm = TrackedSwarm::start(dir.path(), 300_000);
    let desktop = Desktop::start();
    let mut app = desktop.launch_at_home(&swarm.torrent, &dir.path().join("home"));
    app.wait_for_line("window presented", START_TIMEOUT);
    desktop.activate(WINDOW_PATH, "toggle-stats", None);
    app.wait_for_line("stats panel shown=true", STEP_TIMEOUT);
    app.wait_for_line("playback started", START_TIMEOUT);

    let first = screenshot_with_lines(&desktop, "stats-panel-playing.png", &[0]);
    // The piece map above the charts has verified pieces (the piece map's
    // green, light or dark style).
    let verified = [[0x2e, 0xc2, 0x7e], [0x33, 0xd1, 0x7a]]
        .map(|colour| pixels_of(&first, colour))
        .into_iter()
        .max()
        .unwrap_or(0);
    assert!(
        verified > 50,
        "no verified pieces on the piece map; see {}",
        first.display()
    );
    // Live: a second later the charts have moved on.
    std::thread::sleep(Duration::from_secs(2));
    let second = artifact_dir().join("stats-panel-playing-later.png");
    desktop.screenshot(&second);
    let before = image::open(&first).expect("png").to_rgb8();
    let after = image::open(&second).expect("png").to_rgb8();
    let (x, y, width, height) = PANEL;
    let changed = image::imageops::crop_imm(&before, x, y, width, height)
        .to_image()
        .pixels()
        .zip(
            image::imageops::crop_imm(&after, x, y, width, height)
                .to_image()
                .pixels(),
        )
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > 100,
        "the panel did not change ({changed} pixels); see {}",
        second.display()
    );

    let json = dir.path().join("run.json");
    let csv = dir.path().join("run.csv");
    for path in [&json, &csv] {
        desktop.activate(
            WINDOW_PATH,
            "export-stats-to",
            Some(&format!("<'{}'>", path.display())),
        );
        let line = app.wait_for_line("exported statistics", STEP_TIMEOUT);
        assert!(line.contains(&path.display().to_string()), "{line}");
    }
    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(
        !log.iter().any(|line| line.contains("panicked")),
        "{log:#?}"
    );

    let run = export::read_json(&json).expect("the export parses with schema v1");
    let torrent = run.torrent.as_ref().expect("the torrent is named");
    assert_eq!(torrent.file, "sample.mp4");
    assert!(
        run.series.windows(2).all(|pair| pair[0].t_s < pair[1].t_s),
        "series times increase"
    );
    assert!(
        run.events.windows(2).all(|pair| pair[0].t_s <= pair[1].t_s),
        "events in time order"
    );
    // The startup milestones, in the order they happen to a .torrent.
    let at = |kind: EventKind| {
        run.events
            .iter()
            .find(|event| event.kind == kind)
            .map(|event| event.t_s)
            .unwrap_or_else(|| panic!("no {kind:?} in {:#?}", run.events))
    };
    let added = at(EventKind::TorrentAdded);
    let metadata = at(EventKind::MetadataReceived);
    assert!(added <= metadata, "added {added}, metadata {metadata}");
    assert!(metadata <= at(EventKind::FirstFrame));
    at(EventKind::FirstPeer);
    let first_frame = run.summary.first_frame_s.expect("a first frame");
    let phases: f64 = run.startup_phases().iter().sum();
    assert!(
        (phases - first_frame).abs() < 1e-6,
        "startup parts {:?} do not add up to {first_frame}",
        run.startup_phases()
    );
    assert_eq!(
        run.summary,
        Summary::of(&run.events, &run.series, run.session.process_start_offset_s),
        "the summary is the one its events and series give"
    );
    let stall_ends = run
        .events
        .iter()
        .filter(|event| matches!(event.kind, EventKind::StallEnd { .. }))
        .count();
    assert_eq!(run.summary.stall_count as usize, stall_ends);
    assert!(run.summary.bytes_down > 0, "{:?}", run.summary);
    let rows = std::fs::read_to_string(&csv)
        .expect("the CSV")
        .lines()
        .count();
    assert!(rows >= 2 && rows >= run.series.len(), "{rows} CSV rows");
}

/// A recorded run of `seconds` samples downloading at `rate` bytes/s.
fn synthetic_run(label: &str, rate: f64, seconds: u32) -> Run {
    let start = Instant::now();
    let mut recorder = Recorder::new(start, start, Vec::new());
    recorder.set_label(label);
    recorder.event(start, EventKind::TorrentAdded);
    recorder.frame_shown(start + Duration::from_millis(900));
    for second in 1..=seconds {
        let at = start + Duration::from_secs(u64::from(second));
        recorder.sample(
            at,
            Sample {
                download_bytes_per_s: rate * (1.0 + f64::from(second % 4) / 4.0),
                buffer_ahead_s: f64::from(second.min(12)),
                position_s: f64::from(second),
                ..Sample::default()
            },
        );
    }
    recorder.run()
}

#[test]
fn compare_runs_overlays_two_exported_runs_in_the_panel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<PathBuf> = [("deadline", 900_000.0), ("sequential", 400_000.0)]
        .iter()
        .map(|&(label, rate)| {
            let path = dir.path().join(format!("{label}.json"));
            export::write_json(&synthetic_run(label, rate, 30), &path).expect("writes");
            path
        })
        .collect();
    let desktop = Desktop::start();
    let mut app = desktop.launch(&[]);
    app.wait_for_line("window presented", START_TIMEOUT);
    let list: Vec<String> = paths
        .iter()
        .map(|path| format!("'{}'", path.display()))
        .collect();
    desktop.activate(
        WINDOW_PATH,
        "compare-runs-from",
        Some(&format!("<[{}]>", list.join(", "))),
    );
    let line = app.wait_for_line("comparing runs", STEP_TIMEOUT);
    assert!(line.contains("runs=2"), "{line}");
    app.wait_for_line("stats panel shown=true", STEP_TIMEOUT);
    // One colour per run: both runs' lines are on screen.
    screenshot_with_lines(&desktop, "stats-panel-compare.png", &[0, 1]);

    // A file that is not a run is refused with its reason.
    let bogus = dir.path().join("notes.json");
    std::fs::write(&bogus, "{}").expect("writes");
    desktop.activate(
        WINDOW_PATH,
        "compare-runs-from",
        Some(&format!("<['{}']>", bogus.display())),
    );
    let toast = app.wait_for_line("toast:", STEP_TIMEOUT);
    assert!(toast.contains("is not a Piecewise stats file"), "{toast}");
    let (status, _) = app.terminate();
    assert!(status.success(), "exit status {status}");
}
