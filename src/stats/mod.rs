//! Playback statistics.
