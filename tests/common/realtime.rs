//! A reader that stands in for a player: it consumes a file stream at the
//! media bitrate and records every stall.

use std::future::Future;
use std::time::{Duration, Instant};

use piecewise::engine::stream::FileStream;

/// Where a player reads a file from: Piecewise's [`FileStream`], or a rival
/// client's driver (tests/common/rivals.rs), so one reader and one set of
/// measurements serve both.
pub trait MediaSource {
    /// Resolves once `len` bytes at `offset` were read from the source.
    fn read(&self, offset: u64, len: usize) -> impl Future<Output = anyhow::Result<()>>;
    /// Whether those bytes are downloaded and verified, so a read cannot wait.
    fn is_available(&self, offset: u64, len: usize) -> impl Future<Output = bool>;
    /// The player's consumption rate, sent when playback starts.
    fn set_playback(&self, bytes_per_second: f64);
}

impl MediaSource for FileStream {
    async fn read(&self, offset: u64, len: usize) -> anyhow::Result<()> {
        self.read_at(offset, len).await?;
        Ok(())
    }

    async fn is_available(&self, offset: u64, len: usize) -> bool {
        FileStream::is_available(self, offset, len)
    }

    fn set_playback(&self, bytes_per_second: f64) {
        FileStream::set_playback(self, bytes_per_second, true);
    }
}

/// A reader that waits longer than this for missing data has stalled: a
/// player's audio and video sinks run dry within a few frames.
pub const STALL_THRESHOLD: Duration = Duration::from_millis(200);

/// What a demuxer pulls per read in pull mode: qtdemux and matroskademux
/// read a sample or a cluster at a time, tens of KiB at these bitrates.
pub const DEMUXER_READ_BYTES: usize = 32 * 1024;

/// Stalls of one playback run.
#[derive(Clone, Debug, Default)]
pub struct Stalls {
    pub durations: Vec<Duration>,
    /// Where each stall began, bytes into the file.
    pub offsets: Vec<u64>,
}

impl Stalls {
    pub fn count(&self) -> usize {
        self.durations.len()
    }

    pub fn total(&self) -> Duration {
        self.durations.iter().sum()
    }
}

/// Plays bytes `from..to` of `stream` in real time at `bytes_per_second`:
/// read `k` is due `k · DEMUXER_READ_BYTES / bytes_per_second` after the
/// start, delayed by the waits before it (a stalled player resumes where
/// it stopped). Only a wait for data that was missing when it was due
/// counts, so a slow disk read on a busy machine is not a stall. Stops
/// early once every remaining byte is verified: nothing can stall then.
pub async fn play(stream: &impl MediaSource, from: u64, to: u64, bytes_per_second: f64) -> Stalls {
    let never = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    play_until(stream, from, to, bytes_per_second, never).await
}

/// [`play`], stopped at `stop` (a seek): a wait cut short there counts as
/// a stall if it was long enough to be one.
pub async fn play_until(
    stream: &impl MediaSource,
    from: u64,
    to: u64,
    bytes_per_second: f64,
    stop: Instant,
) -> Stalls {
    stream.set_playback(bytes_per_second);
    let mut stalls = Stalls::default();
    let mut clock = Instant::now();
    let mut offset = from;
    while offset < to && clock < stop {
        let rest = usize::try_from(to - offset).unwrap_or(usize::MAX);
        if stream.is_available(offset, rest).await {
            break;
        }
        tokio::time::sleep_until(clock.into()).await;
        let len = DEMUXER_READ_BYTES.min((to - offset) as usize);
        let missing = !stream.is_available(offset, len).await;
        let asked = Instant::now();
        let read = tokio::time::timeout_at(stop.into(), stream.read(offset, len)).await;
        let waited = asked.elapsed();
        let Ok(read) = read else {
            if missing && waited > STALL_THRESHOLD {
                stalls.durations.push(waited);
            }
            break;
        };
        read.expect("stream read");
        if missing {
            clock += waited;
            if waited > STALL_THRESHOLD {
                stalls.durations.push(waited);
                stalls.offsets.push(offset);
            }
        }
        offset += len as u64;
        clock += Duration::from_secs_f64(len as f64 / bytes_per_second);
    }
    stalls
}
