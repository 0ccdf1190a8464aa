//! Global upload and download rate limits: token buckets shared by every
//! peer connection of the engine, plus the rate meter used for stats and
//! choking.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much of a second's allowance may be spent in one burst. Small, so a
/// limit holds over short windows too, but above one block so a single
/// piece message never waits twice.
const BURST: Duration = Duration::from_millis(250);

/// A token bucket in bytes per second; a rate of 0 means unlimited.
pub struct RateLimiter {
    bytes_per_second: AtomicU64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second: AtomicU64::new(bytes_per_second),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                refilled: Instant::now(),
            }),
        }
    }

    pub fn set_rate(&self, bytes_per_second: u64) {
        self.bytes_per_second
            .store(bytes_per_second, Ordering::Relaxed);
    }

    pub fn rate(&self) -> u64 {
        self.bytes_per_second.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the bucket, running into debt if needed, and
    /// returns how long the caller must wait to pay the debt back.
    fn take(&self, bytes: u64, now: Instant) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        // A poisoned lock only means another peer task panicked mid-update;
        // the bucket's numbers are still usable.
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        let capacity = rate * BURST.as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.refilled = now;
        bucket.tokens -= bytes as f64;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / rate)
        }
    }

    /// Waits until `bytes` may pass.
    pub async fn acquire(&self, bytes: u64) {
        let wait = self.take(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Bytes counted as they pass, read out as a rate over the last tick.
#[derive(Default)]
pub struct RateMeter {
    total: AtomicU64,
}

impl RateMeter {
    pub fn add(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A smoothed rate computed from a counter's total at regular ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmoothedRate {
    last_total: u64,
    bytes_per_second: f64,
}

impl SmoothedRate {
    /// Weight of the newest tick: reacts within a few seconds yet does not
    /// jump on one burst.
    const NEW_WEIGHT: f64 = 0.5;

    pub fn update(&mut self, total: u64, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return;
        }
        let sample = total.saturating_sub(self.last_total) as f64 / seconds;
        self.last_total = total;
        self.bytes_per_second =
            Self::NEW_WEIGHT * sample + (1.0 - Self::NEW_WEIGHT) * self.bytes_per_second;
    }

    pub fn get(&self) -> f64 {
        self.bytes_per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_bucket_never_waits() {
        let limiter = RateLimiter::new(0);
        assert_eq!(limiter.take(u64::MAX / 2, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn limited_bucket_makes_callers_wait_in_proportion_to_bytes() {
        let limiter = RateLimiter::new(100_000);
        let now = Instant::now();
        // The bucket starts empty: 50 kB at 100 kB/s means half a second.
        let wait = limiter.take(50_000, now);
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        // After a second the debt is paid and a quarter second of burst saved.
        let wait = limiter.take(25_000, now + Duration::from_millis(1500));
        assert_eq!(wait, Duration::ZERO);
    }

    #[test]
    fn smoothed_rate_follows_the_counter() {
        let mut rate = SmoothedRate::default();
        for tick in 1..=10 {
            rate.update(tick * 1000, Duration::from_secs(1));
        }
        assert!((rate.get() - 1000.0).abs() < 5.0);
    }
}
