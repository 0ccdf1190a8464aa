//! Why playback failed, in words a user can act on.

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
            Self::Other(detail) => gettext_f("The video cannot be played: {}.", &[detail]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PlaybackError;
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
}
