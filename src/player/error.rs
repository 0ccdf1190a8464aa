//! Why playback failed, in words a user can act on.

use crate::engine::events::TorrentFailure;
use crate::i18n::{gettext, gettext_f};
use gst::glib;

/// A playback failure, classified from GStreamer's error domains.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaybackError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("cannot read: {0}")]
    Unreadable(String),
    #[error("not a video: {0}")]
    NotAVideo(String),
    /// GStreamer lacks a plugin; the text is pbutils' description of it,
    /// such as "H.265 (Main Profile) decoder".
    #[error("missing plugin: {0}")]
    MissingPlugin(String),
    /// The download folder's disk is full; the detail is for logs only.
    #[error("disk full: {0}")]
    DiskFull(String),
    #[error("playback failed: {0}")]
    Other(String),
}

impl PlaybackError {
    /// Classifies a bus error. `missing_plugins` holds the descriptions of
    /// the missing-plugin messages posted before it: they name the real
    /// cause, while the error itself is often a generic stream error.
    pub fn classify(error: &glib::Error, missing_plugins: &[String]) -> Self {
        // GStreamer's messages end with a full stop; ours add their own.
        let detail = error.message().trim_end_matches('.').to_owned();
        if !missing_plugins.is_empty() {
            return Self::MissingPlugin(missing_plugins.join(", "));
        }
        if error.matches(gst::ResourceError::NotFound) {
            Self::NotFound(detail)
        } else if error.matches(gst::ResourceError::OpenRead)
            || error.matches(gst::ResourceError::Read)
            || error.matches(gst::ResourceError::NotAuthorized)
        {
            Self::Unreadable(detail)
        } else if error.matches(gst::ResourceError::NoSpaceLeft) {
            Self::DiskFull(detail)
        } else if error.matches(gst::StreamError::TypeNotFound)
            || error.matches(gst::StreamError::WrongType)
            || error.matches(gst::StreamError::Demux)
            || error.matches(gst::StreamError::Format)
        {
            Self::NotAVideo(detail)
        } else if error.matches(gst::StreamError::CodecNotFound) {
            Self::MissingPlugin(detail)
        } else {
            Self::Other(detail)
        }
    }

    /// One sentence for the error page.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotFound(_) => {
                gettext("The file does not exist. It may have been moved or deleted.")
            }
            Self::Unreadable(detail) => gettext_f("The file cannot be read: {}.", &[detail]),
            Self::NotAVideo(_) => {
                gettext("This file is not a video, or its format is not supported.")
            }
            Self::MissingPlugin(names) => gettext_f(
                // Translators: {} names GStreamer plugins, like "H.265 decoder".
                "A codec needed to play this video is not installed: {}.",
                &[names],
            ),
            Self::DiskFull(_) => gettext(
                "The disk is full, so the video cannot be downloaded further. Free some space, then open it again: the parts already downloaded are kept.",
            ),
            Self::Other(detail) => gettext_f("The video cannot be played: {}.", &[detail]),
        }
    }

    /// The failure of a torrent that stopped (its engine sentence is for
    /// logs; the user reads this type's own words).
    pub fn from_torrent(failure: &TorrentFailure) -> Self {
        match failure {
            TorrentFailure::DiskFull(sentence) => Self::DiskFull(sentence.clone()),
            TorrentFailure::Storage(sentence) => Self::Unreadable(sentence.clone()),
        }
    }
}

/// The Debian package that brings decoders for the codecs in `missing`
/// (pbutils' descriptions, such as "H.265 (Main Profile) decoder").
pub fn codec_package(missing: &str) -> &'static str {
    let missing = missing.to_lowercase();
    let has = |names: &[&str]| names.iter().any(|name| missing.contains(name));
    if has(&["vp8", "vp9", "flac", "speex", "matroska", "webm"]) {
        "gstreamer1.0-plugins-good"
    } else if has(&["theora", "vorbis", "opus"]) {
        "gstreamer1.0-plugins-base"
    } else if has(&["av1", "aom", "dav1d"]) {
        "gstreamer1.0-plugins-bad"
    } else {
        // H.264, H.265, AAC, MPEG-4 and most others: FFmpeg's decoders.
        "gstreamer1.0-libav"
    }
}

#[cfg(test)]
mod tests {
    use super::{PlaybackError, TorrentFailure, codec_package};

    #[test]
    fn missing_codecs_name_their_debian_package() {
        let table = [
            ("H.265 (Main Profile) decoder", "gstreamer1.0-libav"),
            ("H.264 (High Profile) decoder", "gstreamer1.0-libav"),
            ("VP9 decoder", "gstreamer1.0-plugins-good"),
            ("Opus decoder", "gstreamer1.0-plugins-base"),
            ("AV1 decoder", "gstreamer1.0-plugins-bad"),
        ];
        for (missing, package) in table {
            assert_eq!(codec_package(missing), package, "{missing}");
        }
    }
    use gst::glib;

    #[test]
    fn missing_plugin_messages_take_precedence_over_the_generic_error() {
        let error = glib::Error::new(
            gst::CoreError::MissingPlugin,
            "Your GStreamer installation is missing a plug-in.",
        );
        let classified =
            PlaybackError::classify(&error, &["H.265 (Main Profile) decoder".to_owned()]);
        assert_eq!(
            classified,
            PlaybackError::MissingPlugin("H.265 (Main Profile) decoder".to_owned())
        );
        assert!(
            classified
                .user_message()
                .contains("H.265 (Main Profile) decoder")
        );
    }

    #[test]
    fn error_domains_map_to_user_sentences() {
        let not_found = glib::Error::new(gst::ResourceError::NotFound, "Resource not found.");
        assert!(matches!(
            PlaybackError::classify(&not_found, &[]),
            PlaybackError::NotFound(_)
        ));
        let not_media = glib::Error::new(
            gst::StreamError::TypeNotFound,
            "Could not determine type of stream.",
        );
        assert!(matches!(
            PlaybackError::classify(&not_media, &[]),
            PlaybackError::NotAVideo(_)
        ));
        let no_codec = glib::Error::new(gst::StreamError::CodecNotFound, "No decoder available.");
        assert!(matches!(
            PlaybackError::classify(&no_codec, &[]),
            PlaybackError::MissingPlugin(_)
        ));
    }

    #[test]
    fn a_full_disk_is_said_in_the_players_words_not_the_engines() {
        let engine_sentence = "the disk is full: no space left to write into /home/u/Downloads. \
                               Free some space and open the torrent again; the pieces already \
                               verified are kept";
        let from_source = glib::Error::new(gst::ResourceError::NoSpaceLeft, engine_sentence);
        let from_torrent = TorrentFailure::DiskFull(engine_sentence.to_owned());
        for failure in [
            PlaybackError::classify(&from_source, &[]),
            PlaybackError::from_torrent(&from_torrent),
        ] {
            assert!(matches!(failure, PlaybackError::DiskFull(_)), "{failure:?}");
            let message = failure.user_message();
            assert!(message.starts_with("The disk is full"), "{message}");
            assert!(!message.contains("no space left to write"), "{message}");
        }
    }
}
