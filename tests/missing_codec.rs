//! A missing decoder is named in the error. Its own test binary, because it
//! hides decoders from the process-wide GStreamer registry.

mod common;

use common::{file_uri, ten_second_video, write_video};
use gst::prelude::*;
use piecewise::player::sample::SampleFormat;
use piecewise::player::{PlaybackError, Player, PlayerEvent, PlayerSinks};
use std::time::{Duration, Instant};

/// Rank NONE keeps decodebin from autoplugging every H.264 decoder, as if
/// gstreamer1.0-libav were not installed.
fn hide_h264_decoders() {
    let registry = gst::Registry::get();
    let decoders =
        gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DECODER, gst::Rank::NONE);
    let h264 = gst::Caps::builder("video/x-h264").build();
    for factory in decoders.iter().filter(|f| f.can_sink_any_caps(&h264)) {
        factory.set_rank(gst::Rank::NONE);
    }
    assert!(
        registry.lookup_feature("avdec_h264").is_some(),
        "test needs gstreamer1.0-libav"
    );
}

#[test]
fn missing_h264_decoder_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    hide_h264_decoders();
    let fakesink = || {
        gst::ElementFactory::make("fakesink")
            .build()
            .expect("fakesink")
    };
    let (player, events) = Player::new(PlayerSinks {
        video: fakesink(),
        audio: Some(fakesink()),
    })
    .expect("player");
    player.open(&file_uri(&path));

    let deadline = Instant::now() + Duration::from_secs(60);
    let failure = loop {
        assert!(Instant::now() < deadline, "no error reported");
        match events.try_recv() {
            Ok(PlayerEvent::Failed(failure)) => break failure,
            Ok(PlayerEvent::Ended { .. }) => panic!("played without an H.264 decoder"),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let PlaybackError::MissingPlugin(names) = &failure else {
        panic!("expected a missing plugin, got {failure:?}");
    };
    assert!(names.contains("H.264"), "{names}");
    assert!(
        failure.user_message().contains("H.264"),
        "{}",
        failure.user_message()
    );
}
