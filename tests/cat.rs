//! `piecewise cat`: a torrent's video to standard output, from a libtorrent
//! seeder, into a file, into GStreamer, and into a pipe closed early; its
//! data kept in the user's cache unless a folder is given.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::swarm::Swarm;
use common::{output_within, wait_output_within};
use piecewise::player::sample::SampleFormat;

/// Longest a run may take before the test calls it a hang.
const TIMEOUT: Duration = Duration::from_secs(90);

/// `piecewise cat` of the swarm's torrent, stdout and stderr piped.
fn cat_command(swarm: &Swarm) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    command
        .args(["cat", "--listen-ip", "127.0.0.1", "--no-dht", "--peer"])
        .arg(swarm.seeder.addr.to_string())
        .arg(&swarm.torrent)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// [`cat_command`] into the download folder `dir`, started.
fn cat(swarm: &Swarm, dir: &Path) -> Child {
    cat_command(swarm)
        .arg("--download-dir")
        .arg(dir)
        .spawn()
        .unwrap()
}

#[test]
fn cat_writes_the_whole_file_to_stdout_in_order() {
    let swarm = Swarm::start(SampleFormat::Mp4H264AacIndexAtEnd, 0);
    let output = wait_output_within(cat(&swarm, &swarm.dir.path().join("download")), TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        output.stdout == std::fs::read(&swarm.video).unwrap(),
        "stdout differs from the source file"
    );
}

#[test]
fn cat_piped_into_gstreamer_plays_to_the_end() {
    let swarm = Swarm::start(SampleFormat::WebmVp9Opus, 0);
    let mut piecewise = cat(&swarm, &swarm.dir.path().join("download"));
    let pipe = piecewise.stdout.take().unwrap();
    let gst = output_within(
        Command::new("gst-launch-1.0")
            .args(["fdsrc", "fd=0", "!", "decodebin", "!", "fakesink"])
            .stdin(pipe),
        TIMEOUT,
    );
    let cat = wait_output_within(piecewise, TIMEOUT);
    let stdout = String::from_utf8_lossy(&gst.stdout);
    assert!(
        gst.status.success(),
        "gst-launch failed: {stdout}{}",
        String::from_utf8_lossy(&gst.stderr)
    );
    assert!(stdout.contains("EOS"), "{stdout}");
    assert!(
        cat.status.success(),
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
}

#[test]
fn cat_into_a_pipe_closed_early_exits_cleanly() {
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, 0);
    let mut piecewise = cat(&swarm, &swarm.dir.path().join("download"));
    let mut pipe = piecewise.stdout.take().unwrap();
    let mut first = vec![0; 1000];
    pipe.read_exact(&mut first).unwrap();
    let source = std::fs::read(&swarm.video).unwrap();
    assert!(first == source[..1000]);
    assert!(source.len() > 1 << 20, "the file outgrows the pipe buffer");
    drop(pipe);
    let output = wait_output_within(piecewise, TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
}

#[test]
fn cat_without_a_download_dir_keeps_the_data_in_the_cache_not_the_working_folder() {
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, 0);
    let folders = swarm.working_and_cache_folders();
    let child = cat_command(&swarm)
        .current_dir(&folders.working)
        .env("XDG_CACHE_HOME", &folders.cache)
        .spawn()
        .unwrap();
    let output = wait_output_within(child, TIMEOUT);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout == std::fs::read(&swarm.video).unwrap(),
        "stdout differs from the source file"
    );
    swarm.assert_kept_in_cache_only(&folders);
}
