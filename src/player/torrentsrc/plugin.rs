//! `libgstpiecewise.so`: `torrentsrc` as a GStreamer plugin library, for
//! `GST_PLUGIN_PATH` and any GStreamer application. Not a module of the
//! crate's library: it is the `gstpiecewise` cdylib example in
//! `Cargo.toml`, which `cargo build --all-targets` and `cargo test` link:
//!
//!     cargo build --example gstpiecewise
//!     GST_PLUGIN_PATH=target/debug/examples gst-launch-1.0 playbin uri='magnet:?xt=…'
//!
//! Loaded this way the element runs its own engine (`own_engine.rs`).

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    piecewise::player::torrentsrc::own_engine::install();
    piecewise::player::torrentsrc::register(Some(plugin))
}

gst::plugin_define!(
    piecewise,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "GPL",
    env!("CARGO_PKG_NAME"),
    "Piecewise",
    env!("CARGO_PKG_REPOSITORY")
);
