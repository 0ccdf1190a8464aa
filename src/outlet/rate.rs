//! The consumption rate of an outside reader (an HTTP client, a pipe): what
//! the engine's deadlines are computed from. GStreamer's duration is not
//! known here, so the rate is the user's `--bitrate`, or estimated from
//! the reader's progress.

use std::time::{Duration, Instant};

use crate::player::session::GUESSED_BITRATE;

/// Reads before this much time has passed say little about the rate (a
/// player fills its cache first): the guess stands until then.
const WARM_UP: Duration = Duration::from_secs(2);

/// The rate is sent to the engine when it changed by more than this
/// fraction, so a steady reader does not send a command per read.
const CHANGE_WORTH_SENDING: f64 = 0.1;

/// Bytes per second an outside reader consumes.
#[derive(Clone, Debug)]
pub struct ConsumptionRate {
    given: Option<f64>,
    started: Instant,
    bytes: u64,
    sent: Option<f64>,
}

impl ConsumptionRate {
    /// `given`: the media bitrate in bytes/s when the user knows it.
    pub fn new(given: Option<f64>, now: Instant) -> Self {
        Self {
            given: given.filter(|rate| rate.is_finite() && *rate > 0.0),
            started: now,
            bytes: 0,
            sent: None,
        }
    }

    /// The current rate: the given one, else the guess during the warm-up,
    /// else the mean rate of the reads since the start. A reader that gulps
    /// ahead makes it high, which only makes deadlines earlier.
    pub fn bytes_per_second(&self, now: Instant) -> f64 {
        if let Some(given) = self.given {
            return given;
        }
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < WARM_UP {
            return GUESSED_BITRATE;
        }
        self.bytes as f64 / elapsed.as_secs_f64()
    }

    /// Counts `bytes` read at `now`; returns the rate when it is worth
    /// sending to the engine (the first time, and after a real change).
    pub fn record(&mut self, bytes: u64, now: Instant) -> Option<f64> {
        self.bytes = self.bytes.saturating_add(bytes);
        let rate = self.bytes_per_second(now);
        let changed = self
            .sent
            .is_none_or(|sent| (rate - sent).abs() > sent * CHANGE_WORTH_SENDING);
        changed.then(|| {
            self.sent = Some(rate);
            rate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_bitrate_is_used_as_is() {
        let start = Instant::now();
        let mut rate = ConsumptionRate::new(Some(300_000.0), start);
        assert_eq!(rate.record(1 << 20, start), Some(300_000.0));
        assert_eq!(rate.record(1 << 20, start + Duration::from_secs(9)), None);
    }

    #[test]
    fn without_a_bitrate_the_guess_holds_then_the_mean_read_rate() {
        let start = Instant::now();
        let mut rate = ConsumptionRate::new(None, start);
        assert_eq!(rate.record(100_000, start), Some(GUESSED_BITRATE));
        assert_eq!(rate.record(100_000, start + Duration::from_secs(1)), None);
        // 400 kB in 4 s.
        let later = start + Duration::from_secs(4);
        assert_eq!(rate.record(200_000, later), Some(100_000.0));
        // Within 10 %: not sent again.
        assert_eq!(rate.record(40_000, later), None);
        assert_eq!(rate.bytes_per_second(later), 110_000.0);
    }
}
