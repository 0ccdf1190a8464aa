//! `piecewise demo`: opens the window on a built-in demo video.

use crate::player::sample::{SampleFormat, SampleVideo};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// The demo video: 30 s of a scrolling test pattern with a tone, small
/// enough to encode in seconds.
const DEMO_VIDEO: SampleVideo = SampleVideo {
    format: SampleFormat::Mp4H264Aac,
    width: 640,
    height: 360,
    fps: 25,
    frames: 750,
};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Generate the demo video again even if it is cached.
    #[arg(long)]
    pub regenerate: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let video = cached_demo_video(args.regenerate)?;
    let code = crate::application::run(Some(video.display().to_string()));
    Ok(code.into())
}

/// Generates the demo video once, under the user's cache directory.
fn cached_demo_video(regenerate: bool) -> anyhow::Result<PathBuf> {
    crate::player::init().context("cannot initialise GStreamer")?;
    let dir = gst::glib::user_cache_dir().join("piecewise");
    // The name changes with the video's parameters so an old cache is not reused.
    let path = dir.join(format!(
        "demo-{}x{}-{}f.{}",
        DEMO_VIDEO.width,
        DEMO_VIDEO.height,
        DEMO_VIDEO.frames,
        DEMO_VIDEO.format.extension()
    ));
    if regenerate || !path.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        tracing::info!(path = %path.display(), "generating the demo video");
        DEMO_VIDEO
            .write(&path)
            .context("cannot generate the demo video")?;
    }
    Ok(path)
}
