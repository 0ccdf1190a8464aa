//! The deadline model: which pieces the player will need soon, and when.
//!
//! A read head at byte `h` consuming `rate` bytes/s reaches the piece that
//! starts at byte `s` after `(s − h) / rate` seconds; the piece covering `h`
//! itself is needed now. The window after each head spans `window_secs` of
//! media (never fewer than `min_window_pieces` pieces), clamped to the file
//! the head is in. At open, the streamed file's head and tail are due from
//! the moment the file was chosen, outermost piece first, so they come
//! before everything else; once the demuxer reads, only the edge pieces
//! stay.

use std::time::{Duration, Instant};

use super::{DeadlineParams, Demand, Geometry};

/// Most pieces one read head's window may hold, whatever the rate and
/// window length: bounds the work of every `pick` (a window is scanned on
/// each call) while covering minutes of media at common piece sizes.
pub const MAX_WINDOW_PIECES: u64 = 1024;

/// Deadlines further out than this are all "much later": keeps the
/// arithmetic on `Instant` from overflowing on absurd rates.
pub(super) const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// When a piece must be on disk for the player not to stall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PieceDeadline {
    pub deadline: Instant,
    pub piece: u32,
}

/// The time-critical pieces, earliest deadline first (ties: lower piece).
pub(super) fn critical_pieces(
    geometry: &Geometry,
    params: &DeadlineParams,
    demand: Option<&(Demand, Instant)>,
    stream_file: Option<(usize, Instant)>,
) -> Vec<PieceDeadline> {
    let mut deadlines = Vec::new();
    if let Some((file, chosen_at)) = stream_file
        && let Some(&(offset, length)) = geometry.files.get(file)
        && length > 0
    {
        let end = offset.saturating_add(length);
        let head_end = offset.saturating_add(params.head_bytes.clamp(1, length));
        let tail_start = end - params.tail_bytes.clamp(1, length);
        // Outermost first, as if read from each edge at the assumed rate:
        // the pieces a demuxer reads first (MP4 `ftyp` and an end `moov`)
        // come before the rest of the prefetch. The rest is a guess: once
        // the demuxer reads, its read heads say what it needs, and only
        // the two edge pieces stay (an end index is read soon after the
        // header, so it is fetched alongside).
        let reading = demand.is_some_and(|(demand, _)| !demand.read_heads.is_empty());
        let guessed = if reading { 1 } else { usize::MAX };
        let head = geometry.pieces_covering(offset..head_end);
        let tail = geometry.pieces_covering(tail_start..end).rev();
        for pieces in [head.collect::<Vec<_>>(), tail.collect()] {
            for (k, piece) in pieces.into_iter().take(guessed).enumerate() {
                let from_edge = k as u64 * u64::from(geometry.piece_length);
                deadlines.push(PieceDeadline {
                    deadline: chosen_at + time_to_read(from_edge, params.assumed_bytes_per_second),
                    piece,
                });
            }
        }
    }
    if let Some((demand, demanded_at)) = demand {
        let rate = if demand.bytes_per_second.is_finite() && demand.bytes_per_second > 0.0 {
            demand.bytes_per_second
        } else {
            params.assumed_bytes_per_second
        };
        // `as` saturates: NaN and overflow cannot wrap here.
        let window_bytes = ((params.window_secs.max(0.0) * rate) as u64)
            .max(u64::from(params.min_window_pieces.max(1)) * u64::from(geometry.piece_length));
        for &head in &demand.read_heads {
            let Some(file_end) = geometry.end_of_file_at(head) else {
                continue;
            };
            let end = head.saturating_add(window_bytes).min(file_end);
            for piece in geometry
                .pieces_covering(head..end)
                .take(MAX_WINDOW_PIECES as usize)
            {
                let ahead = geometry.piece_start(piece).saturating_sub(head);
                deadlines.push(PieceDeadline {
                    deadline: *demanded_at + time_to_read(ahead, rate),
                    piece,
                });
            }
        }
    }
    // One entry per piece, at its earliest deadline.
    deadlines.sort_unstable_by_key(|d| (d.piece, d.deadline));
    deadlines.dedup_by_key(|d| d.piece);
    deadlines.sort_unstable();
    deadlines
}

/// How long a reader at `rate` bytes/s takes to get `bytes` ahead; never
/// past [`FAR_FUTURE`], whatever the rate.
fn time_to_read(bytes: u64, rate: f64) -> Duration {
    if bytes == 0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(bytes as f64 / rate)
        .unwrap_or(FAR_FUTURE)
        .min(FAR_FUTURE)
}
