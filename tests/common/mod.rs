//! Helpers shared by the integration tests.
#![allow(dead_code)] // Each test binary uses its own subset.

pub mod opentracker;
pub mod peers;

use piecewise::player::sample::{SampleFormat, SampleVideo};
use std::path::{Path, PathBuf};

/// The test videos: 10 s at 25 fps, small so they encode in a second or two.
pub const TEN_SECONDS: u32 = 250;

pub fn ten_second_video(format: SampleFormat) -> SampleVideo {
    SampleVideo {
        format,
        width: 320,
        height: 240,
        fps: 25,
        frames: TEN_SECONDS,
    }
}

/// Writes `video` into `dir` and returns its path.
pub fn write_video(dir: &Path, video: SampleVideo) -> PathBuf {
    piecewise::player::init().expect("GStreamer initialises");
    let path = dir.join(format!("sample.{}", video.format.extension()));
    video.write(&path).expect("the sample video encodes");
    path
}

pub fn file_uri(path: &Path) -> String {
    gst::glib::filename_to_uri(path, None)
        .expect("absolute path")
        .to_string()
}

/// Where tests keep files worth looking at after a run (screenshots).
pub fn artifact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}
