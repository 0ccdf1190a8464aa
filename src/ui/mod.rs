//! Windows and widgets. The window talks to the player only through its
//! handle and event channel.

mod clock;
mod window;

pub use clock::format_clock;
pub use window::PiecewiseWindow;
