//! Stats: a realistic session through the recorder, its JSON export, charts
//! and the `piecewise stats` verbs.

use std::time::{Duration, Instant};

use piecewise::stats::export;
use piecewise::stats::recorder::Recorder;
use piecewise::stats::schema::{EventKind, PolicyInfo, Run, Sample, TorrentInfo};

/// How a simulated session goes: its label, swarm speed and hitches.
struct Scenario {
    label: &'static str,
    /// Download rate at full speed, bytes per second.
    rate: f64,
    /// Wall-clock seconds at which playback freezes, and for how long.
    stalls: &'static [(f64, f64)],
    /// Wall-clock second of a seek to media second 100, resumed 0.8 s later.
    seek_at: Option<f64>,
}

const BASELINE: Scenario = Scenario {
    label: "deadline",
    rate: 3.0 * 1024.0 * 1024.0,
    stalls: &[(20.0, 2.0), (40.0, 0.6)],
    seek_at: Some(30.0),
};

const SLOW: Scenario = Scenario {
    label: "sequential",
    rate: 600.0 * 1024.0,
    stalls: &[(12.0, 4.0)],
    seek_at: None,
};

/// Feeds a recorder as the player would: startup events, the playhead ten
/// times a second, engine samples once a second, a seek, a pause, the end.
fn record(scenario: &Scenario) -> Run {
    let process = Instant::now();
    let start = process + Duration::from_millis(180);
    let at = |s: f64| start + Duration::from_secs_f64(s);
    let mut recorder = Recorder::new(process, start, vec!["piecewise".into(), "x.torrent".into()]);
    recorder.set_label(scenario.label);
    recorder.set_torrent(TorrentInfo {
        name: "Big Buck Bunny".into(),
        info_hash: "dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c".into(),
        file: "Big Buck Bunny/bbb.mp4".into(),
        file_size: 276_134_947,
        piece_length: 262_144,
        duration_s: Some(596.5),
        bitrate_bytes_per_s: Some(276_134_947.0 / 596.5),
    });
    recorder.set_policy(PolicyInfo {
        name: scenario.label.into(),
        parameters: [("prebuffer_s".to_owned(), serde_json::json!(2.0))].into(),
    });
    recorder.event(at(0.02), EventKind::TorrentAdded);
    recorder.event(at(0.05), EventKind::MetadataReceived);
    recorder.peer_connected(at(0.4));
    recorder.peer_connected(at(0.5));
    recorder.event(at(1.1), EventKind::PrebufferDone);
    recorder.frame_shown(at(1.4));

    let end = 60.0;
    let mut position = 0.0;
    let mut downloaded = 0.0;
    let mut paused = false;
    for tick in 0..=(end as usize * 10) {
        let t = tick as f64 / 10.0;
        if scenario.seek_at.is_some_and(|s| (t - s).abs() < 0.05) {
            recorder.seek(at(t), 100.0);
            position = 100.0;
        }
        let seeking = scenario.seek_at.is_some_and(|s| t >= s && t < s + 0.8);
        if scenario
            .seek_at
            .is_some_and(|s| (t - (s + 0.8)).abs() < 0.05)
        {
            recorder.frame_shown(at(t));
        }
        if (t - 50.0).abs() < 0.05 {
            paused = true;
            recorder.event(at(t), EventKind::Pause);
        }
        if (t - 53.0).abs() < 0.05 {
            paused = false;
            recorder.event(at(t), EventKind::Resume);
        }
        let frozen = scenario
            .stalls
            .iter()
            .any(|&(from, length)| t >= from && t < from + length);
        let should_run = t >= 1.4 && !seeking && !paused;
        if should_run && !frozen {
            position += 0.1;
        }
        recorder.position(at(t), position, should_run);
        downloaded += scenario.rate / 10.0;
        if tick % 10 == 0 {
            recorder.sample(
                at(t),
                Sample {
                    download_bytes_per_s: scenario.rate * (1.0 + (t / 7.0).sin() * 0.3),
                    upload_bytes_per_s: scenario.rate * 0.1,
                    peers: 3 + (tick / 100) as u32,
                    buffer_ahead_s: if frozen { 0.0 } else { 2.0 + t / 6.0 },
                    position_s: position,
                    pieces_had: (downloaded / 262_144.0) as u32,
                    bytes_down: downloaded as u64,
                    bytes_up: (downloaded * 0.1) as u64,
                    bytes_wasted: 16_384,
                    ..Sample::default()
                },
            );
        }
    }
    recorder.finish(at(end + 0.05), true);
    recorder.run()
}

#[test]
fn recorded_session_round_trips_through_json() {
    let run = record(&BASELINE);
    let json = export::to_json(&run).expect("serialises");
    let back: Run = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, run);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.json");
    export::write_json(&run, &path).expect("writes");
    assert_eq!(export::read_json(&path).expect("reads"), run);
}

#[test]
fn summary_matches_the_recorded_events() {
    let run = record(&BASELINE);
    let summary = &run.summary;
    let starts = run
        .events
        .iter()
        .filter(|event| event.kind == EventKind::StallStart)
        .count();
    let ends: Vec<f64> = run
        .events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::StallEnd { duration_s } => Some(duration_s),
            _ => None,
        })
        .collect();
    assert_eq!(starts, 2);
    assert_eq!(summary.stall_count as usize, starts);
    assert_eq!(summary.stall_count as usize, ends.len());
    assert_eq!(summary.stall_seconds, ends.iter().sum::<f64>());
    // Each simulated freeze is found, lasting as long as it froze (to the
    // 0.1 s sampling step).
    assert!((ends[0] - 2.0).abs() < 0.15, "{ends:?}");
    assert!((ends[1] - 0.6).abs() < 0.15, "{ends:?}");

    let offset = run.session.process_start_offset_s;
    assert!((offset - 0.18).abs() < 1e-6);
    let first_frame = summary.first_frame_s.expect("a first frame");
    assert!((first_frame - (1.4 + offset)).abs() < 1e-6);
    let after_add = summary.first_frame_after_add_s.expect("added");
    assert!((after_add - (1.4 - 0.02)).abs() < 1e-6);
    let play_start = summary.play_start_s.expect("playback started");
    assert!(play_start >= first_frame && play_start < first_frame + 0.2);
    assert_eq!(summary.seek_count, 1);
    let resume = summary.seek_resume_s.expect("the seek resumed");
    assert!((resume - 0.8).abs() < 1e-6);
    assert_eq!(
        run.events
            .iter()
            .filter(|event| event.kind == EventKind::FirstPeer)
            .count(),
        1
    );

    let last = run.series.last().expect("samples");
    assert_eq!(summary.bytes_down, last.bytes_down);
    assert_eq!(summary.bytes_up, last.bytes_up);
    let ratio = summary.share_ratio.expect("downloaded something");
    assert!((ratio - 0.1).abs() < 0.01);
    // 60 s minus startup, the stalls, the seek and the pause.
    assert!(
        summary.played_s > 45.0 && summary.played_s < 56.0,
        "{}",
        summary.played_s
    );

    let slow = record(&SLOW);
    assert_eq!(slow.summary.stall_count, 1);
    assert_eq!(slow.summary.seek_resume_s, None);
}

#[test]
fn events_are_in_time_order_and_series_strictly_increasing() {
    let run = record(&BASELINE);
    assert!(run.series.len() >= 60);
    for pair in run.series.windows(2) {
        assert!(
            pair[0].t_s < pair[1].t_s,
            "{} then {}",
            pair[0].t_s,
            pair[1].t_s
        );
    }
    for pair in run.events.windows(2) {
        assert!(
            pair[0].t_s <= pair[1].t_s,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn csv_has_a_header_and_one_row_per_sample() {
    let run = record(&SLOW);
    let mut csv = Vec::new();
    export::write_csv(&run.series, &mut csv).expect("writes");
    let csv = String::from_utf8(csv).expect("utf-8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(export::CSV_HEADER));
    let columns = export::CSV_HEADER.split(',').count();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), run.series.len());
    assert!(rows.iter().all(|row| row.split(',').count() == columns));
}

#[test]
fn a_file_of_another_schema_version_is_refused_with_its_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("future.json");
    std::fs::write(&path, r#"{"schema_version": 99, "whatever": true}"#).expect("writes");
    let error = export::read_json(&path).expect_err("refused");
    assert!(error.to_string().contains("version 99"), "{error}");
}

mod charts {
    use super::{BASELINE, SLOW, record};
    use piecewise::stats::chart::{self, ChartKind, ChartStyle};
    use std::collections::HashSet;

    fn assert_png_has_content(path: &std::path::Path, width: u32, height: u32, style: &ChartStyle) {
        let image = image::open(path).expect("a PNG").to_rgb8();
        assert_eq!(image.dimensions(), (width, height));
        let background = [style.background.0, style.background.1, style.background.2];
        let drawn = image.pixels().filter(|pixel| pixel.0 != background).count();
        let total = (width * height) as usize;
        assert!(drawn > total / 50, "only {drawn} of {total} pixels drawn");
        let colours: HashSet<[u8; 3]> = image.pixels().map(|pixel| pixel.0).collect();
        assert!(colours.len() >= 8, "only {} colours", colours.len());
        for run_colour in &style.palette[..2] {
            assert!(
                colours.contains(&[run_colour.0, run_colour.1, run_colour.2]),
                "no {run_colour:?} in the chart"
            );
        }
    }

    #[test]
    fn every_chart_renders_to_a_png_of_the_requested_size_with_content() {
        let runs = [record(&BASELINE), record(&SLOW)];
        let dir = tempfile::tempdir().expect("temp dir");
        for (kind, style) in [
            (ChartKind::Rates, ChartStyle::LIGHT),
            (ChartKind::Buffer, ChartStyle::DARK),
            (ChartKind::Startup, ChartStyle::LIGHT),
            (ChartKind::All, ChartStyle::DARK),
        ] {
            let path = dir.path().join(format!("{kind:?}.png"));
            chart::save(&path, &runs, kind, &style, (640, 400)).expect("draws");
            assert_png_has_content(&path, 640, 400, &style);
        }
    }

    #[test]
    fn svg_chart_has_paths_and_the_legend() {
        let runs = [record(&BASELINE), record(&SLOW)];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("all.svg");
        chart::save(&path, &runs, ChartKind::All, &ChartStyle::LIGHT, (800, 900)).expect("draws");
        let svg = std::fs::read_to_string(&path).expect("reads");
        assert!(svg.contains(r#"width="800""#) && svg.contains(r#"height="900""#));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        for legend in [
            "deadline download",
            "sequential upload",
            "deadline stalls",
            "deadline seeks",
            "prebuffering",
            "first frame",
        ] {
            assert!(svg.contains(legend), "no legend {legend:?}");
        }
        assert!(svg.contains("MB/s"), "rates above 1 MB/s are shown in MB/s");
    }

    #[test]
    fn slow_rates_are_shown_in_kb_per_second_with_whole_number_ticks() {
        let runs = [record(&SLOW)];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rates.svg");
        chart::save(
            &path,
            &runs,
            ChartKind::Rates,
            &ChartStyle::LIGHT,
            (600, 300),
        )
        .expect("draws");
        let svg = std::fs::read_to_string(&path).expect("reads");
        assert!(svg.contains("kB/s"));
        assert!(!svg.contains(".0\n"), "an axis label ends in .0");
        assert!(
            svg.contains("\ndownload\n"),
            "a single run's legend has no run name"
        );

        let png = dir.path().join("startup.png");
        chart::save(
            &png,
            &runs,
            ChartKind::Startup,
            &ChartStyle::LIGHT,
            (600, 300),
        )
        .expect("draws");
        assert_png_has_content(&png, 600, 300, &ChartStyle::LIGHT);
    }

    #[test]
    fn startup_phases_add_up_to_the_first_frame() {
        let run = record(&BASELINE);
        let phases = run.startup_phases();
        let first_frame = run.summary.first_frame_s.expect("a first frame");
        assert!((phases.iter().sum::<f64>() - first_frame).abs() < 1e-9);
        assert!(phases.iter().all(|&part| part >= 0.0));
        // prebuffering: first peer at 0.4 s → prebuffered at 1.1 s
        assert!((phases[3] - 0.7).abs() < 1e-9, "{phases:?}");
    }
}

mod verbs {
    use super::{BASELINE, SLOW, record};
    use piecewise::stats::export;
    use std::ffi::OsStr;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    /// Two recorded runs written as JSON into `dir`.
    fn two_runs(dir: &Path) -> [PathBuf; 2] {
        [&BASELINE, &SLOW].map(|scenario| {
            let path = dir.join(format!("{}.json", scenario.label));
            export::write_json(&record(scenario), &path).expect("writes");
            path
        })
    }

    /// Runs `piecewise stats VERB ARGS…` and asserts it succeeds.
    fn stats(verb: &str, args: &[&dyn AsRef<OsStr>]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
        command.arg("stats").arg(verb).args(args);
        let output = command.output().expect("piecewise runs");
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    #[test]
    fn stats_plot_writes_overlaid_png_and_svg_of_the_requested_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [first, second] = two_runs(dir.path());
        let png = dir.path().join("compare.png");
        stats(
            "plot",
            &[
                &first,
                &second,
                &"-o",
                &png,
                &"--width",
                &"1000",
                &"--height",
                &"700",
            ],
        );
        let image = image::open(&png).expect("a PNG").to_rgb8();
        assert_eq!(image.dimensions(), (1000, 700));

        let svg = dir.path().join("buffer.svg");
        stats(
            "plot",
            &[
                &first, &second, &"-o", &svg, &"--chart", &"buffer", &"--dark",
            ],
        );
        let svg = std::fs::read_to_string(&svg).expect("reads");
        assert!(svg.contains("Buffer ahead"));
        assert!(svg.contains("deadline buffer") && svg.contains("sequential buffer"));
        assert!(!svg.contains("Startup delay"), "only the chart asked for");
    }

    #[test]
    fn stats_table_prints_one_aligned_column_per_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [first, second] = two_runs(dir.path());
        let output = stats("table", &[&first, &second]);
        let table = String::from_utf8(output.stdout).expect("utf-8");
        let lines: Vec<&str> = table.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["deadline", "sequential"]);
        let row = |name: &str| -> Vec<String> {
            let line = lines
                .iter()
                .find(|line| line.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no row {name} in\n{table}"));
            line.split_whitespace().skip(1).map(str::to_owned).collect()
        };
        assert_eq!(row("stall_count"), ["2", "1"]);
        assert_eq!(row("seek_resume_s"), ["0.800", "-"]);
        assert_eq!(row("first_frame_s"), ["1.580", "1.580"]);
        // Right-aligned columns: every line is as long as the header.
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{table}"
        );
    }

    #[test]
    fn stats_csv_writes_the_series_one_row_per_sample() {
        let dir = tempfile::tempdir().expect("temp dir");
        let [first, _] = two_runs(dir.path());
        let csv = dir.path().join("baseline.csv");
        stats("csv", &[&first, &"-o", &csv]);
        let run = export::read_json(&first).expect("reads");
        let text = std::fs::read_to_string(&csv).expect("reads");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], export::CSV_HEADER);
        assert_eq!(lines.len(), run.series.len() + 1);
        let columns = export::CSV_HEADER.split(',').count();
        assert!(lines.iter().all(|line| line.split(',').count() == columns));
    }

    #[test]
    fn stats_plot_refuses_a_file_that_is_not_a_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bogus = dir.path().join("bogus.json");
        std::fs::write(&bogus, "not json").expect("writes");
        let output = Command::new(env!("CARGO_BIN_EXE_piecewise"))
            .args(["stats", "plot"])
            .arg(&bogus)
            .arg("-o")
            .arg(dir.path().join("out.png"))
            .output()
            .expect("piecewise runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not a Piecewise stats file"), "{stderr}");
    }
}
