//! GStreamer: pipeline, player state machine.
