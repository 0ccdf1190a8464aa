//! Sample videos generated in-process with GStreamer, for the demo and the
//! tests: a scrolling SMPTE test pattern with a sine tone.

use gst::prelude::*;
use std::path::{Path, PathBuf};

/// Audio sample rate; Opus only takes 48 kHz.
const AUDIO_RATE: u32 = 48_000;

/// Longest a sample may take to encode before we give up.
const ENCODE_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(300);

/// The container and codecs of a sample video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// H.264 and AAC in MP4, index at the start.
    Mp4H264Aac,
    /// H.264 and AAC in MP4, index at the end (as recorders write it): a
    /// streaming player needs the file's tail before the first frame.
    Mp4H264AacIndexAtEnd,
    /// VP9 and Opus in WebM.
    WebmVp9Opus,
}

impl SampleFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4H264Aac | Self::Mp4H264AacIndexAtEnd => "mp4",
            Self::WebmVp9Opus => "webm",
        }
    }
}

/// What to generate: `frames` frames at `fps`, with audio of equal length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleVideo {
    pub format: SampleFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("no GStreamer encoder found for {what} (install {package})")]
    MissingEncoder {
        what: &'static str,
        package: &'static str,
    },
    #[error("frame rate {0} does not divide the audio rate {AUDIO_RATE}")]
    FrameRate(u32),
    #[error("cannot build the encoding pipeline: {0}")]
    Pipeline(#[from] gst::glib::Error),
    #[error("encoding failed: {0}")]
    Encoding(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SampleVideo {
    /// Encodes the video into `path`, through a temporary file beside it so
    /// an interrupted run never leaves a truncated video behind.
    pub fn write(&self, path: &Path) -> Result<(), SampleError> {
        if self.fps == 0 || AUDIO_RATE % self.fps != 0 {
            return Err(SampleError::FrameRate(self.fps));
        }
        let partial = path.with_extension("partial");
        let pipeline = gst::parse::launch(&self.pipeline_description()?)?;
        let result = self.encode(&pipeline, &partial);
        let _ = pipeline.set_state(gst::State::Null);
        if let Err(error) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        std::fs::rename(&partial, path).map_err(|source| SampleError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn encode(&self, pipeline: &gst::Element, partial: &Path) -> Result<(), SampleError> {
        let sink = pipeline
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name("out"))
            .ok_or_else(|| SampleError::Encoding("no file sink in the pipeline".into()))?;
        sink.set_property("location", partial);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|error| SampleError::Encoding(error.to_string()))?;
        let bus = pipeline
            .bus()
            .ok_or_else(|| SampleError::Encoding("pipeline without a bus".into()))?;
        let message = bus
            .timed_pop_filtered(
                ENCODE_TIMEOUT,
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .ok_or_else(|| SampleError::Encoding("timed out".into()))?;
        match message.view() {
            gst::MessageView::Error(error) => Err(SampleError::Encoding(error.error().to_string())),
            _ => Ok(()),
        }
    }

    /// ```text
    /// videotestsrc ─► encoder ─► parser ─► queue ─┐
    ///                                             ├─► muxer ─► filesink "out"
    /// audiotestsrc ─► encoder ──────────► queue ──┘
    /// ```
    fn pipeline_description(&self) -> Result<String, SampleError> {
        let Self {
            width,
            height,
            fps,
            frames,
            ..
        } = *self;
        let samples_per_frame = AUDIO_RATE / fps;
        let (video_encoder, audio_encoder, muxer) = match self.format {
            SampleFormat::Mp4H264Aac | SampleFormat::Mp4H264AacIndexAtEnd => (
                format!(
                    "{} speed-preset=ultrafast key-int-max={fps} ! h264parse",
                    require("x264enc", "H.264", "gstreamer1.0-plugins-ugly")?
                ),
                format!(
                    "{} ! aacparse",
                    first_available(&["fdkaacenc", "voaacenc", "avenc_aac"]).ok_or(
                        SampleError::MissingEncoder {
                            what: "AAC",
                            package: "gstreamer1.0-libav",
                        }
                    )?
                ),
                if self.format == SampleFormat::Mp4H264Aac {
                    "mp4mux faststart=true"
                } else {
                    "mp4mux faststart=false"
                },
            ),
            SampleFormat::WebmVp9Opus => (
                format!(
                    "{} deadline=1 cpu-used=8 keyframe-max-dist={fps}",
                    require("vp9enc", "VP9", "gstreamer1.0-plugins-good")?
                ),
                require("opusenc", "Opus", "gstreamer1.0-plugins-base")?.to_owned(),
                "webmmux",
            ),
        };
        Ok(format!(
            "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=2 \
               ! video/x-raw,width={width},height={height},framerate={fps}/1 \
               ! videoconvert ! {video_encoder} ! queue ! mux. \
             audiotestsrc num-buffers={frames} samplesperbuffer={samples_per_frame} freq=330 volume=0.2 \
               ! audio/x-raw,rate={AUDIO_RATE},channels=2 \
               ! audioconvert ! {audio_encoder} ! queue ! mux. \
             {muxer} name=mux ! filesink name=out"
        ))
    }
}

fn require(
    element: &'static str,
    what: &'static str,
    package: &'static str,
) -> Result<&'static str, SampleError> {
    first_available(&[element]).ok_or(SampleError::MissingEncoder { what, package })
}

fn first_available(elements: &[&'static str]) -> Option<&'static str> {
    elements
        .iter()
        .copied()
        .find(|name| gst::ElementFactory::find(name).is_some())
}
