//! The plugin library `libgstpiecewise.so`: any GStreamer application that
//! finds it on `GST_PLUGIN_PATH` plays torrents with `torrentsrc` and the
//! element's own engine, while Piecewise keeps its own element and engine.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::swarm::{Swarm, TrackedSwarm};
use common::{output_within, playbin_plays_to_eos};
use piecewise::player::sample::SampleFormat;

/// Longest a playback may take before the test calls it a hang.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The folder holding `libgstpiecewise.so`. `cargo test` builds examples
/// with the tests; building it here as well makes `cargo test --test
/// plugin` work alone, and costs a second when it is fresh.
fn plugin_dir() -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--example", "gstpiecewise"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What cargo set for this test run (CARGO_MANIFEST_DIR, CARGO_PKG_*...)
    // must not reach the inner cargo: build scripts that watch such
    // variables (ring's) would rebuild half the tree, and back again on the
    // next outer build. Neither must the outer make's jobserver.
    const SET_FOR_TESTS: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "OUT_DIR",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_MAKEFLAGS",
    ];
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_") || SET_FOR_TESTS.contains(&name.as_ref()) {
            cargo.env_remove(name.as_ref());
        }
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "the plugin library builds");
    // target/debug/deps/plugin-<hash> → target/debug/examples
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    assert!(dir.join("libgstpiecewise.so").exists(), "{}", dir.display());
    dir
}

/// `command` with the plugin on its path, a registry of its own, and
/// `$XDG_CACHE_HOME` below `dir`.
fn with_plugin<'a>(command: &'a mut Command, dir: &Path) -> &'a mut Command {
    command
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
}

#[test]
fn gst_launch_plays_a_magnet_link_to_the_end_with_the_plugins_own_engine() {
    let swarm = Swarm::start(SampleFormat::Mp4H264AacIndexAtEnd, 0);
    let dir = swarm.dir.path();
    let mut command = Command::new("gst-launch-1.0");
    playbin_plays_to_eos(with_plugin(&mut command, dir), &swarm.magnet(), TIMEOUT);
    // The element's engine kept the data in the user's cache folder.
    let cached = dir.join("cache/piecewise/torrents/sample.mp4");
    assert!(
        std::fs::read(&cached).unwrap() == std::fs::read(&swarm.video).unwrap(),
        "{} differs from the source",
        cached.display()
    );
}

#[test]
fn piecewise_plays_through_its_own_engine_with_the_plugin_on_the_path() {
    let swarm = Swarm::start(SampleFormat::WebmVp9Opus, 0);
    let dir = swarm.dir.path();
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    with_plugin(&mut command, dir)
        .args(["play", "--headless", "--listen-ip", "127.0.0.1"])
        .args(["--play-seconds", "1", "--peer"])
        .arg(swarm.seeder.addr.to_string())
        .arg("--download-dir")
        .arg(dir.join("download"))
        .arg(&swarm.torrent);
    let output = output_within(&mut command, TIMEOUT);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !dir.join("cache/piecewise").exists(),
        "the plugin's engine ran inside Piecewise"
    );
}

#[test]
fn gst_launch_plays_a_torrent_file_uri_with_peers_from_its_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let swarm = TrackedSwarm::start(dir.path(), 0);
    let file_uri = url::Url::from_file_path(&swarm.torrent).unwrap();
    let mut command = Command::new("gst-launch-1.0");
    let uri = format!("torrent+{file_uri}");
    playbin_plays_to_eos(with_plugin(&mut command, dir.path()), &uri, TIMEOUT);
}
