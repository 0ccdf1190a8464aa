//! When playback can start without stalling.
//!
//! Downloading at `r` bytes/s a medium consumed at `b` bytes/s with `D`
//! seconds left to play, playback never stalls if the buffer ahead of the
//! playhead holds at least `D·(1 − r/b)` seconds of media when `r < b`;
//! when `r ≥ b` only a small safety margin is needed against jitter. While
//! waiting, the buffer grows by `r/b` seconds of media per second.
//!
//! A rate measured for only a few seconds is noisy: the smoothed rate
//! needs about three 1-s ticks to follow a step, and the first seconds of
//! a swarm are bursty (peers unchoking one by one, rate limiters handing
//! out their first quota). Starting on such a rate risks a stall, so `r`
//! counts in proportion to how long it has been measured, fully after
//! [`RATE_SETTLE_SECS`]. With a swarm much faster than the video the
//! discounted rate still clears the bitrate at once; near the bitrate the
//! start waits until the rate has proved itself.
//!
//! The wait people are told ("starting in ~n s") follows the same rule
//! forward in time: the buffer grows at the measured rate (the data does
//! arrive at r; only the plan discounts it), and the requirement shrinks as
//! the rate's trust grows. Judged with the discounted rate alone, a demo
//! swarm at 1.4× the bitrate read "starting in ~71 s" a second before it
//! started.

use std::time::Duration;

/// Seconds of measurement after which the download rate counts in full.
pub const RATE_SETTLE_SECS: f64 = 5.0;

/// Measurements the estimate is made from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartupInput {
    /// Measured download rate r, bytes/s.
    pub download_bytes_per_second: f64,
    /// How long r has been measured, seconds (since the download started).
    pub rate_measured_secs: f64,
    /// Media bitrate b, bytes/s (file size over duration).
    pub media_bytes_per_second: f64,
    /// Media left to play after the playhead D, seconds.
    pub remaining_secs: f64,
    /// Media already buffered ahead of the playhead, seconds.
    pub buffered_secs: f64,
    /// Least buffer ever asked for, seconds, against rate jitter.
    pub safety_margin_secs: f64,
}

/// The verdict for one set of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartupEstimate {
    /// Buffer needed to play to the end without a stall, seconds of media.
    pub required_buffer_secs: f64,
    pub can_start_now: bool,
    /// How long until the rule allows playback if the rate holds (its
    /// trust growing with its age); `None` when nothing is arriving or
    /// the bitrate is unknown.
    pub wait: Option<Duration>,
    /// The buffer playback will start with, seconds of media: what is
    /// there after `wait` (the requirement then), or the requirement now
    /// when no wait is known.
    pub start_buffer_secs: f64,
}

/// The download rate to plan with: r, discounted while it is young.
pub fn trusted_rate(input: &StartupInput) -> f64 {
    let trust = (non_negative(input.rate_measured_secs) / RATE_SETTLE_SECS).min(1.0);
    non_negative(input.download_bytes_per_second) * trust
}

/// Seconds of media to buffer before playing: max(margin, D·(1 − r/b))
/// with the trusted rate. An unknown bitrate (0, negative, NaN) asks for
/// the margin only.
pub fn required_buffer_secs(input: &StartupInput) -> f64 {
    let margin = non_negative(input.safety_margin_secs);
    let rate = trusted_rate(input);
    let bitrate = non_negative(input.media_bytes_per_second);
    if bitrate == 0.0 {
        return margin;
    }
    let deficit = non_negative(input.remaining_secs) * (1.0 - rate / bitrate);
    margin.max(deficit)
}

pub fn can_start_now(input: &StartupInput) -> bool {
    non_negative(input.buffered_secs) >= required_buffer_secs(input)
}

pub fn estimate(input: &StartupInput) -> StartupEstimate {
    let required = required_buffer_secs(input);
    let buffered = non_negative(input.buffered_secs);
    let can_start_now = buffered >= required;
    let wait_secs = if can_start_now {
        Some(0.0)
    } else {
        seconds_until_start(input)
    };
    let growth =
        non_negative(input.download_bytes_per_second) / non_negative(input.media_bytes_per_second);
    StartupEstimate {
        required_buffer_secs: required,
        can_start_now,
        wait: wait_secs.and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
        start_buffer_secs: wait_secs.map_or(required, |secs| buffered + growth * secs),
    }
}

/// The first time t ≥ 0 at which the buffer, growing at r/b media seconds
/// per second, meets max(margin, D·(1 − r·trust(age + t)/b)), the trust
/// rising linearly to 1 at `RATE_SETTLE_SECS`. Both sides are linear in t
/// before the trust is full and after it, so each part is solved exactly.
fn seconds_until_start(input: &StartupInput) -> Option<f64> {
    let rate = non_negative(input.download_bytes_per_second);
    let bitrate = non_negative(input.media_bytes_per_second);
    if rate == 0.0 || bitrate == 0.0 {
        return None;
    }
    let growth = rate / bitrate;
    let buffered = non_negative(input.buffered_secs);
    let remaining = non_negative(input.remaining_secs);
    let age = non_negative(input.rate_measured_secs);
    let margin = (non_negative(input.safety_margin_secs) - buffered) / growth;
    let young_for = (RATE_SETTLE_SECS - age).max(0.0);
    // While young: buffered + g·t ≥ D − D·g·(age + t)/S.
    let while_young = (remaining - remaining * growth * age / RATE_SETTLE_SECS - buffered)
        / (growth * (1.0 + remaining / RATE_SETTLE_SECS));
    let deficit = if young_for > 0.0 && while_young <= young_for {
        while_young
    } else {
        // Trusted in full: buffered + g·t ≥ D·(1 − g).
        young_for.max((remaining * (1.0 - growth) - buffered) / growth)
    };
    let secs = margin.max(deficit).max(0.0);
    secs.is_finite().then_some(secs)
}

/// Measurements are noisy: NaN and negatives count as zero.
fn non_negative(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else if value == f64::INFINITY {
        f64::MAX
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rate measured long enough to count in full.
    fn input(r: f64, b: f64, d: f64, buffered: f64, margin: f64) -> StartupInput {
        StartupInput {
            download_bytes_per_second: r,
            rate_measured_secs: RATE_SETTLE_SECS,
            media_bytes_per_second: b,
            remaining_secs: d,
            buffered_secs: buffered,
            safety_margin_secs: margin,
        }
    }

    #[test]
    fn required_buffer_follows_the_deficit_formula_with_a_margin_floor() {
        // (r, b, D, margin) -> required seconds
        let table = [
            (500.0, 1000.0, 600.0, 2.0, 300.0), // half the rate: half of D
            (900.0, 1000.0, 100.0, 2.0, 10.0),
            (1000.0, 1000.0, 600.0, 2.0, 2.0), // r = b: margin
            (4000.0, 1000.0, 600.0, 3.0, 3.0), // r > b: margin
            (0.0, 1000.0, 60.0, 2.0, 60.0),    // nothing arriving: all of it
            (500.0, 0.0, 60.0, 2.0, 2.0),      // unknown bitrate: margin
            (f64::NAN, 1000.0, 60.0, 2.0, 60.0),
            (500.0, 1000.0, -5.0, 2.0, 2.0),
        ];
        for (r, b, d, margin, expected) in table {
            let got = required_buffer_secs(&input(r, b, d, 0.0, margin));
            assert!(
                (got - expected).abs() < 1e-9,
                "r={r} b={b} D={d}: {got} != {expected}"
            );
        }
    }

    #[test]
    fn can_start_once_the_buffer_covers_the_requirement() {
        // (r, b, D, buffered, margin) -> can start
        let table = [
            (500.0, 1000.0, 600.0, 299.0, 2.0, false),
            (500.0, 1000.0, 600.0, 300.0, 2.0, true),
            (2000.0, 1000.0, 600.0, 1.0, 2.0, false),
            (2000.0, 1000.0, 600.0, 2.0, 2.0, true),
        ];
        for (r, b, d, buffered, margin, expected) in table {
            assert_eq!(
                can_start_now(&input(r, b, d, buffered, margin)),
                expected,
                "r={r} b={b} D={d} buffered={buffered}"
            );
        }
    }

    #[test]
    fn wait_is_the_missing_buffer_filled_at_r_over_b() {
        // (r, b, D, buffered, margin) -> wait seconds
        let table = [
            (500.0, 1000.0, 600.0, 100.0, 2.0, Some(400.0)), // 200 s missing at 0.5 s/s
            (2000.0, 1000.0, 600.0, 0.0, 4.0, Some(2.0)),    // 4 s missing at 2 s/s
            (500.0, 1000.0, 600.0, 400.0, 2.0, Some(0.0)),
            (0.0, 1000.0, 600.0, 0.0, 2.0, None),
        ];
        for (r, b, d, buffered, margin, expected) in table {
            let got = estimate(&input(r, b, d, buffered, margin));
            assert_eq!(
                got.wait
                    .map(|w| (w.as_secs_f64() * 1000.0).round() / 1000.0),
                expected,
                "r={r} b={b} D={d} buffered={buffered}"
            );
            assert_eq!(got.can_start_now, expected == Some(0.0));
        }
    }

    #[test]
    fn the_announced_wait_ends_when_the_rule_allows_the_start() {
        // A swarm at 1.4× the bitrate (the demo's), 120 s of media, the
        // buffer growing at the measured rate, ticks of 0.25 s from the
        // first byte. Each tick's "starting in ~n s" must name the tick
        // at which playback does start; judged with the discounted rate
        // alone, the first ticks said ~70 s for a start after ~2 s.
        let (rate, bitrate, tick) = (1400.0, 1000.0, 0.25);
        let at = |age: f64| StartupInput {
            rate_measured_secs: age,
            ..input(rate, bitrate, 120.0, age * rate / bitrate, 2.0)
        };
        let start = (1..200)
            .map(|step| f64::from(step) * tick)
            .find(|&age| can_start_now(&at(age)))
            .expect("the start comes");
        assert!(start > 1.0 && start < 10.0, "started at {start} s");
        for step in 1..200 {
            let age = f64::from(step) * tick;
            if age >= start {
                break;
            }
            let announced = estimate(&at(age)).wait.expect("data arrives");
            let predicted = age + announced.as_secs_f64();
            assert!(
                predicted > start - tick - 1e-9 && predicted <= start + 1e-9,
                "at {age} s: starting in ~{announced:?}, but it started at {start} s"
            );
            // The buffer it will start with is what is there by then.
            let start_buffer = estimate(&at(age)).start_buffer_secs;
            assert!(
                (start_buffer - at(predicted).buffered_secs).abs() < 1e-6,
                "at {age} s: {start_buffer}"
            );
        }
    }

    #[test]
    fn a_young_rate_counts_in_proportion_to_its_age() {
        // 1.3× the bitrate with 3 s buffered of 120 s: enough once the rate
        // has been measured long enough, not on its first seconds.
        // (measured seconds, can start)
        let table = [
            (0.0, false),
            (1.0, false),
            (3.0, false),
            (4.0, true),
            (60.0, true),
        ];
        for (age, expected) in table {
            let young = StartupInput {
                rate_measured_secs: age,
                ..input(1300.0, 1000.0, 120.0, 3.0, 2.0)
            };
            assert_eq!(can_start_now(&young), expected, "measured for {age} s");
        }
        // A swarm ten times the bitrate clears it after one second.
        let fast = StartupInput {
            rate_measured_secs: 1.0,
            ..input(10_000.0, 1000.0, 120.0, 2.0, 2.0)
        };
        assert!(can_start_now(&fast));
    }
}
