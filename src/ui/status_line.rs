//! The words of the status line under the video and of the opening page,
//! kept apart from the widgets so that a table test covers them.

use crate::i18n::{gettext, gettext_f};
use crate::player::PlaybackState;
use crate::player::session::BufferStatus;
use gtk::glib;
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

/// The swarm part of the status line. `complete`: every piece of the
/// playing file is verified, so nothing is fetched any more; seeders then
/// hang up (we are one too), and "no peers yet" or a download rate would
/// only mislead. A zero upload rate is left out then too, as it is the only
/// activity left to show.
pub fn swarm_text(peers: usize, download_rate: f64, upload_rate: f64, complete: bool) -> String {
    let down = rate_text(download_rate);
    let up = rate_text(upload_rate);
    if complete {
        // Translators: the playing file is all on disk.
        let mut parts = vec![gettext("Downloaded")];
        if peers > 0 {
            parts.push(gettext_f("Peers: {}", &[&peers.to_string()]));
        }
        if upload_rate >= 1.0 {
            parts.push(format!("↑ {up}"));
        }
        parts.join(" · ")
    } else if peers == 0 {
        // Translators: download and upload rates such as "1.2 MB/s" follow.
        gettext_f("No peers yet, still looking · ↓ {} · ↑ {}", &[&down, &up])
    } else {
        // Translators: peers, then download and upload rates such as "1.2 MB/s".
        gettext_f("Peers: {} · ↓ {} · ↑ {}", &[&peers.to_string(), &down, &up])
    }
}

/// Bytes per second in words: "0 B/s", "999 B/s", "1.2 MB/s". GLib spells
/// small sizes out ("0 bytes"), which reads oddly beside "kB/s".
pub fn rate_text(bytes_per_second: f64) -> String {
    let bytes = bytes_per_second.max(0.0) as u64;
    if bytes < 1000 {
        // Translators: a rate below one kilobyte per second.
        gettext_f("{} B/s", &[&bytes.to_string()])
    } else {
        format!("{}/s", glib::format_size(bytes))
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
    fn swarm_words_say_downloaded_once_the_file_is_complete_and_no_peers_yet_only_before() {
        let cases = [
            (
                3,
                1500.0,
                0.0,
                false,
                "Peers: 3 · ↓ 1.5\u{a0}kB/s · ↑ 0 B/s",
            ),
            (
                0,
                0.0,
                0.0,
                false,
                "No peers yet, still looking · ↓ 0 B/s · ↑ 0 B/s",
            ),
            // Complete: the seeders hung up, which is no reason to look.
            (0, 302_500.0, 0.0, true, "Downloaded"),
            (0, 0.0, 999.0, true, "Downloaded · ↑ 999 B/s"),
            (2, 0.0, 0.0, true, "Downloaded · Peers: 2"),
            (
                2,
                0.0,
                2_000_000.0,
                true,
                "Downloaded · Peers: 2 · ↑ 2.0\u{a0}MB/s",
            ),
        ];
        for (peers, down, up, complete, expected) in cases {
            assert_eq!(
                swarm_text(peers, down, up, complete),
                expected,
                "{peers} peers, ↓ {down}, ↑ {up}, complete: {complete}"
            );
        }
    }

    #[test]
    fn rates_read_in_bytes_per_second_below_a_kilobyte() {
        assert_eq!(rate_text(0.0), "0 B/s");
        assert_eq!(rate_text(-3.0), "0 B/s");
        assert_eq!(rate_text(999.9), "999 B/s");
        // GLib puts a no-break space before its units.
        assert_eq!(rate_text(302_500.0), "302.5\u{a0}kB/s");
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
