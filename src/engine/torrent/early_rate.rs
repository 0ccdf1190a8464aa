//! The torrent's download rate before its first 1-s tick with data. Until
//! a rate is published the player's startup rule sees none and waits for
//! the whole file, which on a fast swarm was most of the time to start
//! playing: one unlimited seeder gives the first frame in 10–50 ms, and
//! the player's next startup check is a quarter of a second later. So from
//! the first block until the first tick after it, every verified piece
//! publishes the rate of the bytes after the first block over the time
//! since it: the wait for peers is not download time, and the smoothed
//! rate's first tick (half its sample, against a zero start) would halve
//! it. So young a rate is noisy, but the startup rule trusts a rate in
//! proportion to its age, so only a swarm far above the bitrate starts on
//! it. Peers' rates keep the tick (measured after 250 ms, bursty peers got
//! deep queues and the 1.3x benchmark started playing at 18 s instead of
//! 4 s).

use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct EarlyRate {
    /// When the first block came.
    first_block: Option<Instant>,
    /// Bytes of the blocks taken since, the first one left out.
    bytes: u64,
    /// The latest early rate, bytes/s.
    rate: Option<f64>,
    /// A tick came after the first block: the smoothed rate holds.
    over: bool,
}

impl EarlyRate {
    /// Whether blocks still count: until the first tick after the first.
    pub fn counts_blocks(&self) -> bool {
        !self.over
    }

    /// A block of `len` bytes was taken. Counted here as the task takes
    /// blocks, not from the sessions' byte counters, which run ahead of
    /// the events the task has handled.
    pub fn block_received(&mut self, now: Instant, len: usize) {
        match self.first_block {
            None => self.first_block = Some(now),
            Some(_) => self.bytes = self.bytes.saturating_add(len as u64),
        }
    }

    /// Whether the early rate is the one to publish: after the first block,
    /// before the first tick after it.
    pub fn active(&self) -> bool {
        self.first_block.is_some() && !self.over
    }

    /// Measures the early rate as of `now`.
    pub fn measure(&mut self, now: Instant) {
        if let Some(at) = self.first_block.filter(|_| !self.over) {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            if secs > 0.0 {
                self.rate = Some(self.bytes as f64 / secs);
            }
        }
    }

    /// The rate to publish instead of the smoothed one, if any.
    pub fn rate(&self) -> Option<f64> {
        self.rate.filter(|_| !self.over)
    }

    /// A tick updated the smoothed rate: after the first block, it holds.
    pub fn tick(&mut self) {
        self.over |= self.first_block.is_some();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_early_rate_counts_the_bytes_after_the_first_block_over_the_time_since_it() {
        let start = Instant::now();
        let mut early = EarlyRate::default();
        // Peers took 800 ms to connect: ticks came and went.
        early.tick();
        assert!(!early.active());
        early.measure(start);
        assert_eq!(early.rate(), None, "nothing to measure before a block");
        let first = start + Duration::from_millis(800);
        early.block_received(first, 16_384);
        assert!(early.active());
        // 1 MB in the 25 ms after the first block: 40 MB/s, not diluted by
        // the 800 ms of connecting nor halved by smoothing.
        for _ in 0..10 {
            early.block_received(first + Duration::from_millis(1), 100_000);
        }
        early.measure(first + Duration::from_millis(25));
        let rate = early.rate().expect("measured");
        assert!((rate - 40e6).abs() < 1.0, "{rate}");
    }

    #[test]
    fn the_first_tick_after_the_first_block_hands_over_to_the_smoothed_rate() {
        let start = Instant::now();
        let mut early = EarlyRate::default();
        early.block_received(start, 16_384);
        early.block_received(start, 16_384);
        early.measure(start + Duration::from_millis(25));
        assert!(early.rate().is_some());
        early.tick();
        assert!(!early.active());
        assert_eq!(early.rate(), None);
        early.measure(start + Duration::from_millis(50));
        assert_eq!(early.rate(), None);
    }
}
