//! Piecewise: play a video while it is still arriving from a BitTorrent swarm.

pub mod cli;
pub mod engine;
pub mod player;
pub mod stats;
pub mod ui;
