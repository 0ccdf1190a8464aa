//! Build-time constants.

/// The application id: D-Bus name, desktop file name, GResource prefix.
pub const APP_ID: &str = "io.github.piecewise.Piecewise";

/// The crate version, shown in the about dialog and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The gettext domain of every translatable string.
pub const GETTEXT_PACKAGE: &str = "piecewise";

/// Where compiled translations live; packagers override it at build time.
pub const LOCALEDIR: &str = match option_env!("PIECEWISE_LOCALEDIR") {
    Some(dir) => dir,
    None => "/usr/local/share/locale",
};

/// The GResource path of the bundle compiled by `build.rs`.
pub const RESOURCE_PREFIX: &str = "/io/github/piecewise/Piecewise";
