//! `libgstpiecewise.so`: `torrentsrc` as a GStreamer plugin library, for
//! `GST_PLUGIN_PATH` and `gst-launch-1.0`. Not a module of the crate's
//! library: it is the `gstpiecewise` cdylib target in `Cargo.toml`, built
//! only on request so that ordinary builds do not pay for its link:
//!
//!     cargo build --example gstpiecewise --features gst-plugin
//!     GST_PLUGIN_PATH=target/debug/examples gst-inspect-1.0 torrentsrc
//!
//! Without an engine in the process the element opens nothing by URI; it
//! says so in its error.

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
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
