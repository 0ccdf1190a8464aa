//! GStreamer: the playback pipeline and its state machine. No GTK widgets
//! here; the caller supplies the video sink.

pub mod byte_source;
pub mod engine_source;
mod error;
pub mod file_choice;
mod playback;
pub mod sample;
pub mod session;
mod state;
pub mod torrentsrc;

pub use error::{PlaybackError, codec_package};
pub use playback::{Player, PlayerEvent, PlayerSetupError, PlayerSinks, Track, Tracks};
pub use state::{Input, Intent, PlaybackState};

/// Where torrents streamed to other players are kept when no folder is
/// given: `$XDG_CACHE_HOME/piecewise/torrents` (`~/.cache/…`). The
/// GStreamer plugin's own engine and `piecewise cat`/`serve` share it, so
/// nothing lands in the working folder and a second run resumes.
pub fn torrent_cache_dir() -> std::path::PathBuf {
    gst::glib::user_cache_dir()
        .join("piecewise")
        .join("torrents")
}

/// Initialises GStreamer and registers the compiled-in `gtk4paintablesink`
/// (Debian 12 packages no such element) and `torrentsrc`. Safe to call more
/// than once.
pub fn init() -> Result<(), gst::glib::Error> {
    use gst::prelude::PluginFeatureExt;
    gst::init()?;
    // Registering twice fails harmlessly: the element is already there.
    if gst::ElementFactory::find("gtk4paintablesink").is_none() {
        gstgtk4::plugin_register_static()
            .map_err(|error| gst::glib::Error::new(gst::CoreError::Failed, &error.to_string()))?;
    }
    // A `torrentsrc` from the plugin library (GST_PLUGIN_PATH) would run
    // its own engine: the application's element, registered without a
    // plugin, replaces it.
    if gst::ElementFactory::find(torrentsrc::ELEMENT_NAME)
        .is_none_or(|factory| factory.plugin().is_some())
    {
        torrentsrc::register(None)
            .map_err(|error| gst::glib::Error::new(gst::CoreError::Failed, &error.to_string()))?;
    }
    Ok(())
}
