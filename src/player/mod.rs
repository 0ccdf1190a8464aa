//! GStreamer: pipeline, player state machine.

pub mod byte_source;
pub mod torrentsrc;
