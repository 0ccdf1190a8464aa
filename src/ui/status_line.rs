//! The words of the status line under the video and of the opening page,
//! kept apart from the widgets so that a table test covers them.

use crate::i18n::{gettext, gettext_f};
use crate::player::PlaybackState;
use crate::player::session::BufferStatus;
use std::time::Duration;

/// How finding a magnet link's torrent goes, before anything can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    LookingForPeers,
    /// Still looking after `NO_PEERS_YET_AFTER`.
    NoPeersYet,
    FetchingMetadata {
        peers: usize,
    },
}

/// How long looking for peers goes on before the page says that none has
/// answered yet, and what the engine keeps doing about it.
pub const NO_PEERS_YET_AFTER: Duration = Duration::from_secs(10);

pub fn finding_text(finding: Finding) -> String {
    match finding {
        Finding::LookingForPeers => gettext("Looking for peers…"),
        Finding::NoPeersYet => gettext(
            "No peers yet. Still asking the trackers and the peers the link names; a quiet torrent can take minutes.",
        ),
        Finding::FetchingMetadata { peers } => gettext_f(
            "Fetching the torrent’s details (peers: {})…",
            &[&peers.to_string()],
        ),
    }
}

/// The playback part of the status line; `buffer` is `None` before the
/// session measured it (and for plain media files).
pub fn state_text(state: PlaybackState, buffer: Option<&BufferStatus>) -> String {
    let Some(buffer) = buffer else {
        return match state {
            PlaybackState::Prebuffering | PlaybackState::Stalled => gettext("Buffering…"),
            _ => state_text(state, Some(&BufferStatus::default())),
        };
    };
    let percent = buffer_percent(buffer).to_string();
    let wait = buffer
        .wait
        .filter(|wait| !wait.is_zero())
        .map(|wait| wait.as_secs_f64().ceil().to_string());
    match (state, wait) {
        (PlaybackState::Opening, _) => gettext("Opening…"),
        (PlaybackState::Prebuffering, Some(wait)) => {
            // Translators: buffer filled in percent, then seconds until playback starts.
            gettext_f("Buffering {} % · starting in ~{} s", &[&percent, &wait])
        }
        (PlaybackState::Prebuffering, None) => gettext_f("Buffering {} %", &[&percent]),
        (PlaybackState::Stalled, Some(wait)) => {
            // Translators: playback stopped for data; percent, then seconds until it resumes.
            gettext_f(
                "Stalled · buffering {} % · resuming in ~{} s",
                &[&percent, &wait],
            )
        }
        (PlaybackState::Stalled, None) => gettext_f("Stalled · buffering {} %", &[&percent]),
        (PlaybackState::Playing, _) => gettext("Playing"),
        (PlaybackState::Paused, _) => gettext("Paused"),
        (PlaybackState::Seeking, _) => gettext("Seeking…"),
        (PlaybackState::Ended, _) => gettext("Finished"),
        (PlaybackState::Error, _) => gettext("Stopped by an error"),
    }
}

/// How full the buffer the startup rule asks for is, 0–100.
pub fn buffer_percent(buffer: &BufferStatus) -> u32 {
    if buffer.required_s <= 0.0 {
        return 100;
    }
    let percent = (100.0 * buffer.ahead_s / buffer.required_s).floor();
    if percent.is_nan() {
        0
    } else {
        percent.clamp(0.0, 100.0) as u32
    }
}

/// The swarm part of the status line; `format_rate` turns bytes per second
/// into "1.2 MB".
pub fn swarm_text(
    peers: usize,
    download_rate: f64,
    upload_rate: f64,
    format_rate: impl Fn(f64) -> String,
) -> String {
    let down = format_rate(download_rate);
    let up = format_rate(upload_rate);
    if peers == 0 {
        // Translators: download and upload rates such as "1.2 MB" follow.
        gettext_f(
            "No peers yet, still looking · ↓ {}/s · ↑ {}/s",
            &[&down, &up],
        )
    } else {
        // Translators: peers, then download and upload rates such as "1.2 MB".
        gettext_f(
            "Peers: {} · ↓ {}/s · ↑ {}/s",
            &[&peers.to_string(), &down, &up],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(ahead_s: f64, required_s: f64, wait_s: Option<u64>) -> BufferStatus {
        BufferStatus {
            ahead_s,
            required_s,
            wait: wait_s.map(Duration::from_secs),
        }
    }

    #[test]
    fn status_words_follow_state_buffer_and_estimate() {
        let cases = [
            (PlaybackState::Opening, buffer(0.0, 0.0, None), "Opening…"),
            (
                PlaybackState::Prebuffering,
                buffer(1.0, 4.0, Some(3)),
                "Buffering 25 % · starting in ~3 s",
            ),
            (
                PlaybackState::Prebuffering,
                buffer(0.0, 4.0, None),
                "Buffering 0 %",
            ),
            (
                PlaybackState::Stalled,
                buffer(3.0, 4.0, Some(1)),
                "Stalled · buffering 75 % · resuming in ~1 s",
            ),
            (
                PlaybackState::Stalled,
                buffer(0.0, 2.0, None),
                "Stalled · buffering 0 %",
            ),
            // Enough already: the wait is zero and not worth saying.
            (
                PlaybackState::Prebuffering,
                buffer(5.0, 4.0, Some(0)),
                "Buffering 100 %",
            ),
            (PlaybackState::Playing, buffer(9.0, 2.0, Some(0)), "Playing"),
            (PlaybackState::Paused, buffer(0.0, 2.0, None), "Paused"),
        ];
        for (state, buffer, expected) in cases {
            assert_eq!(
                state_text(state, Some(&buffer)),
                expected,
                "{state:?} {buffer:?}"
            );
        }
        assert_eq!(state_text(PlaybackState::Stalled, None), "Buffering…");
        assert_eq!(state_text(PlaybackState::Playing, None), "Playing");
    }

    #[test]
    fn buffer_percent_is_bounded_even_for_odd_measurements() {
        assert_eq!(buffer_percent(&buffer(1.0, 0.0, None)), 100);
        assert_eq!(buffer_percent(&buffer(-1.0, 2.0, None)), 0);
        assert_eq!(buffer_percent(&buffer(f64::NAN, 2.0, None)), 0);
        assert_eq!(buffer_percent(&buffer(10.0, 2.0, None)), 100);
        assert_eq!(buffer_percent(&buffer(1.999, 2.0, None)), 99);
    }

    #[test]
    fn swarm_words_say_when_no_peer_is_there_yet() {
        let rate = |bytes: f64| format!("{bytes:.0} B");
        assert_eq!(
            swarm_text(3, 1000.0, 0.0, rate),
            "Peers: 3 · ↓ 1000 B/s · ↑ 0 B/s"
        );
        assert_eq!(
            swarm_text(0, 0.0, 0.0, rate),
            "No peers yet, still looking · ↓ 0 B/s · ↑ 0 B/s"
        );
    }

    #[test]
    fn finding_words_count_the_metadata_peers() {
        assert_eq!(
            finding_text(Finding::FetchingMetadata { peers: 2 }),
            "Fetching the torrent’s details (peers: 2)…"
        );
        assert_eq!(finding_text(Finding::LookingForPeers), "Looking for peers…");
    }
}
