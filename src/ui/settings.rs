//! The app's GSettings, found installed or in the build tree.

use crate::config::APP_ID;
use crate::engine::handle::OriginUse;
use gtk::gio;
use gtk::prelude::*;

/// Where `build.rs` compiled the schema, for runs from the build tree.
const BUILD_TREE_SCHEMA_DIR: &str = concat!(env!("OUT_DIR"), "/schemas");

/// How many entries the start page's recent list keeps.
pub const RECENT_TORRENTS_KEPT: usize = 8;

/// The schema's keys, so that names are spelt once (see
/// `data/io.github.piecewise.Piecewise.gschema.xml`).
#[derive(Clone, Copy, Debug)]
pub enum Key {
    DownloadFolder,
    KeepDataOnClose,
    DiskSpaceLimitMib,
    DownloadRateLimitKib,
    UploadRateLimitKib,
    ListenPort,
    PiecePolicy,
    OriginUse,
    WindowWidth,
    WindowHeight,
    WindowMaximized,
    RecentTorrents,
    PlaybackPositions,
}

impl Key {
    pub const fn name(self) -> &'static str {
        match self {
            Key::DownloadFolder => "download-folder",
            Key::KeepDataOnClose => "keep-data-on-close",
            Key::DiskSpaceLimitMib => "disk-space-limit-mib",
            Key::DownloadRateLimitKib => "download-rate-limit-kib",
            Key::UploadRateLimitKib => "upload-rate-limit-kib",
            Key::ListenPort => "listen-port",
            Key::PiecePolicy => "piece-policy",
            Key::OriginUse => "origin-use",
            Key::WindowWidth => "window-width",
            Key::WindowHeight => "window-height",
            Key::WindowMaximized => "window-maximized",
            Key::RecentTorrents => "recent-torrents",
            Key::PlaybackPositions => "playback-positions",
        }
    }
}

/// The piece policies in the order the preferences list them, by the
/// schema's nicks.
pub const PIECE_POLICY_NICKS: [&str; 3] = ["sequential", "rarest-first", "deadline"];

/// The uses of web seeds in the order the preferences list them: the
/// schema's nicks are the engine's names.
pub const ORIGIN_USE_NICKS: [&str; 3] = OriginUse::NAMES;

/// The settings, or `None` (logged once per call site's caller) when the
/// schema is neither installed nor compiled in the build tree: the app then
/// runs with defaults and saves nothing.
pub fn settings() -> Option<gio::Settings> {
    let installed = gio::SettingsSchemaSource::default();
    let schema = installed
        .as_ref()
        .and_then(|source| source.lookup(APP_ID, true))
        .or_else(|| {
            gio::SettingsSchemaSource::from_directory(
                BUILD_TREE_SCHEMA_DIR,
                installed.as_ref(),
                false,
            )
            .ok()?
            .lookup(APP_ID, false)
        });
    match schema {
        Some(schema) => Some(gio::Settings::new_full(
            &schema,
            None::<&gio::SettingsBackend>,
            None,
        )),
        None => {
            tracing::warn!(
                "GSettings schema {APP_ID} is not installed: preferences and recent torrents are not saved"
            );
            None
        }
    }
}

/// Puts `entry` first in the recent-torrents list, once.
pub fn remember_recent(settings: &gio::Settings, entry: &str) {
    let key = Key::RecentTorrents.name();
    let mut recent: Vec<String> = settings.strv(key).iter().map(|s| s.to_string()).collect();
    recent.retain(|old| old != entry);
    recent.insert(0, entry.to_owned());
    recent.truncate(RECENT_TORRENTS_KEPT);
    match settings.set_strv(key, recent) {
        Ok(()) => tracing::info!(entry, "remembered among the recent torrents"),
        Err(error) => tracing::warn!(%error, "cannot save the recent torrents"),
    }
}
