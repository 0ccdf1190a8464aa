//! Windows and widgets. The window talks to the player only through its
//! handle and event channel.

mod clock;
pub mod open_request;
mod playback_positions;
mod preferences;
mod seek_bar;
pub mod settings;
mod stats_panel;
mod status_line;
mod torrent_playback;
mod track_menus;
mod video_chooser;
mod window;

pub use clock::format_clock;
pub use preferences::PiecewisePreferences;
pub use window::PiecewiseWindow;
