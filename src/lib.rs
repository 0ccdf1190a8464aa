//! Piecewise: play a video while it is still arriving from a BitTorrent swarm.

pub mod application;
pub mod cli;
pub mod config;
pub mod engine;
pub mod i18n;
pub mod outlet;
pub mod player;
pub mod stats;
pub mod ui;
