//! Where playback of each video stopped, so that reopening it resumes
//! there. Kept in GSettings (`playback-positions`, `a{st}`: key
//! `<hex info-hash>/<file index>` for a torrent's file, the URI for a local
//! file; milliseconds), newest first: the order of the serialized
//! dictionary is kept, so the oldest entries are the last ones and are
//! dropped first.

use crate::ui::settings::Key;
use gtk::gio;
use gtk::glib::variant::DictEntry;
use gtk::prelude::*;

/// How many videos' positions are kept: enough for a few series' worth of
/// episodes, small enough that the settings stay small.
pub const POSITIONS_KEPT: usize = 100;

/// A position this close to the end (seconds left) counts as watched: the
/// video starts over next time. Credits often run longer than this.
const WATCHED_SECONDS_LEFT: f64 = 10.0;

/// Past this fraction of the duration a video counts as watched too.
const WATCHED_FRACTION: f64 = 0.95;

/// Positions before this (seconds) are not worth resuming.
const RESUME_MIN_SECONDS: f64 = 3.0;

/// The key of one video: the torrent's hexadecimal info-hash and the
/// file's index in it.
pub fn position_key(info_hash_hex: &str, file: usize) -> String {
    format!("{info_hash_hex}/{file}")
}

/// The key of a local file: its URI (`file:///…`), which no torrent key
/// can equal (those hold no colon).
pub fn local_position_key(uri: &str) -> String {
    uri.to_owned()
}

/// The remembered positions, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaybackPositions {
    /// Key and milliseconds.
    entries: Vec<(String, u64)>,
}

impl PlaybackPositions {
    /// Where to resume `key`, media seconds.
    pub fn resume_at(&self, key: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(known, _)| known == key)
            .map(|&(_, ms)| ms as f64 / 1000.0)
    }

    /// Remembers that `key` stopped at `position_s` of `duration_s`; a
    /// position near the start or the end is forgotten instead. Returns
    /// whether anything changed.
    pub fn remember(&mut self, key: &str, position_s: f64, duration_s: Option<f64>) -> bool {
        let before = self.entries.clone();
        self.entries.retain(|(known, _)| known != key);
        if worth_resuming(position_s, duration_s) {
            self.entries
                .insert(0, (key.to_owned(), (position_s * 1000.0) as u64));
            self.entries.truncate(POSITIONS_KEPT);
        }
        self.entries != before
    }

    /// Reads the positions from `settings`.
    pub fn load(settings: &gio::Settings) -> Self {
        let entries = settings
            .value(Key::PlaybackPositions.name())
            .get::<Vec<DictEntry<String, u64>>>()
            .unwrap_or_default()
            .into_iter()
            .map(|entry| (entry.key().clone(), *entry.value()))
            .take(POSITIONS_KEPT)
            .collect();
        Self { entries }
    }

    /// Writes the positions to `settings`, newest first.
    pub fn save(&self, settings: &gio::Settings) {
        let entries: Vec<DictEntry<String, u64>> = self
            .entries
            .iter()
            .map(|(key, ms)| DictEntry::new(key.clone(), *ms))
            .collect();
        if let Err(error) = settings.set_value(Key::PlaybackPositions.name(), &entries.to_variant())
        {
            tracing::warn!(%error, "cannot save the playback positions");
        }
    }
}

fn worth_resuming(position_s: f64, duration_s: Option<f64>) -> bool {
    if !position_s.is_finite() || position_s < RESUME_MIN_SECONDS {
        return false;
    }
    duration_s.is_none_or(|duration| {
        duration - position_s > WATCHED_SECONDS_LEFT && position_s < duration * WATCHED_FRACTION
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_remembered_newest_first_and_the_oldest_dropped_past_the_limit() {
        let mut positions = PlaybackPositions::default();
        for video in 0..=POSITIONS_KEPT {
            assert!(positions.remember(&position_key("ab", video), 60.0, Some(600.0)));
        }
        assert_eq!(positions.entries.len(), POSITIONS_KEPT);
        // Video 0 was the oldest: dropped.
        assert_eq!(positions.resume_at(&position_key("ab", 0)), None);
        assert_eq!(positions.resume_at(&position_key("ab", 1)), Some(60.0));
        // Playing video 1 again makes it the newest: the next one dropped is 2.
        positions.remember(&position_key("ab", 1), 61.5, Some(600.0));
        positions.remember("other/0", 30.0, None);
        assert_eq!(positions.resume_at(&position_key("ab", 1)), Some(61.5));
        assert_eq!(positions.resume_at(&position_key("ab", 2)), None);
        assert_eq!(positions.entries[0].0, "other/0");
        assert_eq!(positions.entries[1].0, "ab/1");
    }

    #[test]
    fn local_files_are_remembered_by_their_uri_beside_torrent_files() {
        let mut positions = PlaybackPositions::default();
        let film = local_position_key("file:///home/u/Videos/Film%201.mkv");
        positions.remember(&film, 42.0, Some(600.0));
        positions.remember(&position_key("ab", 0), 60.0, Some(600.0));
        assert_eq!(positions.resume_at(&film), Some(42.0));
        assert_eq!(positions.resume_at(&position_key("ab", 0)), Some(60.0));
        assert_eq!(
            positions.resume_at(&local_position_key("file:///home/u/Videos/Other.mkv")),
            None
        );
    }

    #[test]
    fn a_position_near_the_end_or_the_start_is_forgotten() {
        let mut positions = PlaybackPositions::default();
        positions.remember("a/0", 100.0, Some(1000.0));
        assert_eq!(positions.resume_at("a/0"), Some(100.0));
        // The last 5 % of a long video: watched.
        assert!(positions.remember("a/0", 960.0, Some(1000.0)));
        assert_eq!(positions.resume_at("a/0"), None);
        positions.remember("a/0", 949.0, Some(1000.0));
        assert_eq!(positions.resume_at("a/0"), Some(949.0));
        // Under 10 s left of a short one: watched.
        positions.remember("b/0", 25.0, Some(34.0));
        assert_eq!(positions.resume_at("b/0"), None);
        positions.remember("b/0", 20.0, Some(34.0));
        assert_eq!(positions.resume_at("b/0"), Some(20.0));
        // Back near the start: nothing to resume.
        positions.remember("b/0", 1.0, Some(34.0));
        assert_eq!(positions.resume_at("b/0"), None);
        assert!(!positions.remember("c/0", f64::NAN, None));
    }
}
