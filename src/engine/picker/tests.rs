use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::engine::metainfo::FileEntry;

/// Two blocks per piece keeps block arithmetic visible in the tests.
const PIECE: u32 = 2 * BLOCK_SIZE;

fn info(piece_length: u32, file_lengths: &[u64]) -> Info {
    let mut files = Vec::new();
    let mut offset = 0;
    for (index, &length) in file_lengths.iter().enumerate() {
        files.push(FileEntry {
            path: PathBuf::from(format!("t/{index}")),
            length,
            offset,
            pad: false,
        });
        offset += length;
    }
    let pieces = offset.div_ceil(u64::from(piece_length)) as usize;
    Info {
        name: "t".into(),
        piece_length,
        piece_hashes: vec![[0; 20]; pieces],
        files,
        total_length: offset,
        private: false,
    }
}

fn field(len: u32, set: &[u32]) -> Bitfield {
    let mut field = Bitfield::new(len);
    for &piece in set {
        field.set(piece);
    }
    field
}

fn block(piece: u32, index: u32) -> BlockRequest {
    BlockRequest {
        piece,
        offset: index * BLOCK_SIZE,
        length: BLOCK_SIZE,
    }
}

fn deadlines(picker: &Picker) -> Vec<PieceDeadline> {
    picker.deadlines().collect()
}

fn pieces_of(picked: &[BlockRequest]) -> Vec<u32> {
    let mut pieces: Vec<u32> = picked.iter().map(|b| b.piece).collect();
    pieces.dedup();
    pieces
}

/// Deadline params with one-piece head and tail and a small window.
fn streaming(window_secs: f64) -> DeadlineParams {
    DeadlineParams {
        window_secs,
        min_window_pieces: 1,
        head_bytes: u64::from(PIECE),
        tail_bytes: u64::from(PIECE),
        ..DeadlineParams::default()
    }
}

/// A deadline picker streaming a one-file torrent of `pieces` pieces from
/// `now`, before any read: three pieces of head and of tail prefetched.
fn streaming_with_prefetch(pieces: u64, now: Instant) -> Picker {
    let p = u64::from(PIECE);
    let params = DeadlineParams {
        head_bytes: 3 * p,
        tail_bytes: 3 * p,
        ..streaming(2.0)
    };
    let mut picker = Picker::new(&info(PIECE, &[pieces * p]), Policy::Deadline(params));
    picker.set_stream_file(Some(0), now);
    picker
}

/// One piece per second of media.
fn demand_at(offset: u64) -> Demand {
    Demand {
        read_heads: vec![offset],
        bytes_per_second: f64::from(PIECE),
        playing: true,
    }
}

fn receive_all(picker: &mut Picker, peer: PeerKey, picked: &[BlockRequest]) -> BlockReceived {
    let mut last = BlockReceived::default();
    for &b in picked {
        last = picker.block_received(peer, b);
        assert!(last.new, "{b:?} should be new");
    }
    last
}

#[test]
fn rarest_first_picks_the_piece_fewest_peers_have() {
    let info = info(PIECE, &[5 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::RarestFirst);
    picker.peer_has(1, &field(5, &[0, 1, 2, 3]));
    picker.peer_has(2, &field(5, &[1, 2, 3]));
    picker.peer_has(3, &field(5, &[2, 3]));
    picker.peer_has(4, &field(5, &[3]));
    let now = Instant::now();
    let picked = picker.pick(1, &field(5, &[0, 1, 2, 3]), 0.0, 2, now);
    assert_eq!(picked, vec![block(0, 0), block(0, 1)]);
    let picked = picker.pick(2, &field(5, &[1, 2, 3]), 0.0, 2, now);
    assert_eq!(picked, vec![block(1, 0), block(1, 1)]);
    // Haves raise piece 2 above piece 3.
    picker.peer_have(4, 2);
    picker.peer_have(5, 2);
    let picked = picker.pick(3, &field(5, &[2, 3]), 0.0, 2, now);
    assert_eq!(pieces_of(&picked), vec![3]);
}

#[test]
fn rarest_first_finishes_started_pieces_before_rarer_ones() {
    let info = info(PIECE, &[3 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::RarestFirst);
    picker.peer_has(1, &field(3, &[0, 1]));
    picker.peer_has(2, &field(3, &[0, 1, 2]));
    let now = Instant::now();
    // Peer 1 starts piece 0 (rarest it has: 0 and 1 tie at 2 peers).
    let first = picker.pick(1, &field(3, &[0, 1]), 0.0, 1, now);
    assert_eq!(first.len(), 1);
    let started = first[0].piece;
    // Piece 2 is rarer, but the started piece's open block comes first.
    let picked = picker.pick(2, &field(3, &[0, 1, 2]), 0.0, 1, now);
    assert_eq!(picked, vec![block(started, 1)]);
    let picked = picker.pick(2, &field(3, &[0, 1, 2]), 0.0, 1, now);
    assert_eq!(picked, vec![block(2, 0)]);
}

#[test]
fn sequential_picks_the_lowest_wanted_piece_first() {
    let info = info(PIECE, &[6 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Sequential);
    picker.peer_has(1, &Bitfield::full(6));
    picker.peer_has(2, &field(6, &[5]));
    picker.have_piece(0);
    let now = Instant::now();
    let picked = picker.pick(1, &Bitfield::full(6), 0.0, 3, now);
    assert_eq!(picked, vec![block(1, 0), block(1, 1), block(2, 0)]);
    let picked = picker.pick(1, &Bitfield::full(6), 0.0, 3, now);
    assert_eq!(picked, vec![block(2, 1), block(3, 0), block(3, 1)]);
}

#[test]
fn failed_piece_is_requested_again_in_full() {
    let info = info(PIECE, &[u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::RarestFirst);
    picker.peer_has(1, &Bitfield::full(1));
    let now = Instant::now();
    let picked = picker.pick(1, &Bitfield::full(1), 0.0, 4, now);
    assert_eq!(picked, vec![block(0, 0), block(0, 1)]);
    assert!(!picker.block_received(1, block(0, 0)).piece_complete);
    assert!(picker.block_received(1, block(0, 1)).piece_complete);
    picker.piece_failed(0);
    assert!(!picker.is_complete());
    let picked = picker.pick(1, &Bitfield::full(1), 0.0, 4, now);
    assert_eq!(picked, vec![block(0, 0), block(0, 1)]);
    receive_all(&mut picker, 1, &picked);
    picker.have_piece(0);
    assert!(picker.is_complete());
}

#[test]
fn requests_of_a_gone_or_refusing_peer_return_to_the_pool() {
    let info = info(PIECE, &[4 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Sequential);
    let all = Bitfield::full(4);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    let now = Instant::now();
    let picked = picker.pick(1, &all, 0.0, 4, now);
    assert_eq!(pieces_of(&picked), vec![0, 1]);
    picker.block_dropped(1, block(1, 1));
    assert_eq!(picker.pick(2, &all, 0.0, 1, now), vec![block(1, 1)]);
    picker.peer_gone(1);
    assert_eq!(
        picker.pick(2, &all, 0.0, 3, now),
        vec![block(0, 0), block(0, 1), block(1, 0)]
    );
}

#[test]
fn pieces_of_unwanted_files_are_never_picked() {
    // File 0 covers pieces 0-1, file 1 pieces 2-3.
    let info = info(PIECE, &[2 * u64::from(PIECE), 2 * u64::from(PIECE)]);
    for policy in [
        Policy::Sequential,
        Policy::RarestFirst,
        Policy::Deadline(DeadlineParams::default()),
    ] {
        let mut picker = Picker::new(&info, policy);
        picker.set_wanted_files(&[false, true]);
        picker.peer_has(1, &Bitfield::full(4));
        let now = Instant::now();
        let picked = picker.pick(1, &Bitfield::full(4), 1e6, 100, now);
        let mut pieces = pieces_of(&picked);
        pieces.sort_unstable();
        assert_eq!(pieces, vec![2, 3], "{policy:?}");
        receive_all(&mut picker, 1, &picked);
        assert!(!picker.is_complete());
        picker.have_piece(2);
        picker.have_piece(3);
        assert!(picker.is_complete(), "{policy:?}");
        assert!(picker.pick(1, &Bitfield::full(4), 1e6, 100, now).is_empty());
    }
}

#[test]
fn endgame_requests_blocks_in_flight_elsewhere_and_cancels_the_other_copy() {
    let info = info(PIECE, &[u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::RarestFirst);
    picker.peer_has(1, &Bitfield::full(1));
    picker.peer_has(2, &Bitfield::full(1));
    picker.peer_has(3, &Bitfield::full(1));
    let now = Instant::now();
    assert_eq!(picker.pick(1, &Bitfield::full(1), 0.0, 4, now).len(), 2);
    let duplicates = picker.pick(2, &Bitfield::full(1), 0.0, 4, now);
    assert_eq!(duplicates, vec![block(0, 0), block(0, 1)]);
    // Two copies is the bound.
    assert!(picker.pick(3, &Bitfield::full(1), 0.0, 4, now).is_empty());
    let first = picker.block_received(2, block(0, 0));
    assert_eq!(first.cancel, vec![(1, block(0, 0))]);
    let late = picker.block_received(1, block(0, 0));
    assert!(!late.new);
    let second = picker.block_received(1, block(0, 1));
    assert!(second.new && second.piece_complete);
    assert_eq!(second.cancel, vec![(2, block(0, 1))]);
}

#[test]
fn malformed_blocks_are_not_accepted() {
    let info = info(PIECE, &[u64::from(PIECE) + 100]);
    let mut picker = Picker::new(&info, Policy::RarestFirst);
    let bad = [
        BlockRequest {
            piece: 2,
            offset: 0,
            length: BLOCK_SIZE,
        },
        BlockRequest {
            piece: 0,
            offset: 1,
            length: BLOCK_SIZE,
        },
        BlockRequest {
            piece: 0,
            offset: 0,
            length: BLOCK_SIZE - 1,
        },
        BlockRequest {
            piece: 0,
            offset: PIECE,
            length: BLOCK_SIZE,
        },
        // The last piece is 100 bytes long.
        block(1, 0),
    ];
    for b in bad {
        assert_eq!(
            picker.block_received(1, b),
            BlockReceived::default(),
            "{b:?}"
        );
    }
    let last = BlockRequest {
        piece: 1,
        offset: 0,
        length: 100,
    };
    assert!(picker.block_received(1, last).piece_complete);
}

#[test]
fn deadlines_grow_with_distance_from_the_read_head() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(5.0)));
    let now = Instant::now();
    // Mid-piece head: the piece under it is due now, then one per second.
    let head = 10 * u64::from(PIECE) + 100;
    assert!(picker.set_demand(Some(demand_at(head)), now).is_empty());
    let due = deadlines(&picker);
    assert_eq!(
        due.iter().map(|d| d.piece).collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14, 15]
    );
    assert_eq!(due[0].deadline, now);
    for pair in due.windows(2) {
        assert!(pair[0].deadline < pair[1].deadline);
    }
    let to_15 = due[5].deadline - now;
    assert!((to_15.as_secs_f64() - (5.0 - 100.0 / f64::from(PIECE))).abs() < 1e-6);
    picker.have_piece(10);
    assert_eq!(deadlines(&picker)[0].piece, 11);
}

#[test]
fn time_critical_blocks_go_to_the_fast_peer_not_the_slow_one() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(4.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    let now = Instant::now();
    picker.set_demand(Some(demand_at(0)), now);
    let window: Vec<u32> = deadlines(&picker).iter().map(|d| d.piece).collect();
    // The fast peer (1 MB/s) is active; the slow one (1 KB/s) would need
    // 16 s for one block, past every deadline of the window.
    assert!(picker.pick(1, &all, 1e6, 0, now).is_empty());
    let slow = picker.pick(2, &all, 1e3, 4, now);
    assert_eq!(slow.len(), 4);
    assert!(slow.iter().all(|b| !window.contains(&b.piece)), "{slow:?}");
    let fast = picker.pick(1, &all, 1e6, 4, now);
    assert_eq!(
        fast,
        vec![block(0, 0), block(0, 1), block(1, 0), block(1, 1)]
    );
    // Long after, the fast peer's pipeline is still full (it does not ask
    // for more): it still counts, and the slow peer still gets no window.
    let later = now + Duration::from_secs(5);
    let slow = picker.pick(2, &all, 1e3, 4, later);
    assert!(slow.iter().all(|b| !window.contains(&b.piece)), "{slow:?}");
}

#[test]
fn late_time_critical_block_is_duplicated_once_and_the_copy_cancelled_on_arrival() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(4.0)));
    let all = Bitfield::full(40);
    for peer in 1..=3 {
        picker.peer_has(peer, &all);
    }
    let start = Instant::now();
    picker.set_demand(Some(demand_at(0)), start);
    assert_eq!(picker.pick(1, &all, 1e5, 1, start), vec![block(0, 0)]);
    // Not late yet: peer 2 gets the next block instead.
    let soon = start + Duration::from_millis(100);
    assert_eq!(picker.pick(2, &all, 1e5, 1, soon), vec![block(0, 1)]);
    // Peer 1's block is late after max(2 × 0.16 s, 0.5 s).
    let later = start + Duration::from_millis(600);
    assert_eq!(picker.pick(3, &all, 1e5, 1, later), vec![block(0, 0)]);
    // Two copies at most (one duplicate), so peer 2 moves on.
    let again = start + Duration::from_millis(700);
    assert_eq!(picker.pick(2, &all, 1e5, 1, again), vec![block(1, 0)]);
    let arrived = picker.block_received(3, block(0, 0));
    assert!(arrived.new);
    assert_eq!(arrived.cancel, vec![(1, block(0, 0))]);
    // The cancelled copy, should it still arrive, is not new.
    assert!(!picker.block_received(1, block(0, 0)).new);
}

#[test]
fn cancelled_blocks_a_peer_still_sends_delay_its_deliveries_and_their_lateness() {
    let info = info(PIECE, &[8 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(4.0)));
    let all = Bitfield::full(8);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    let now = Instant::now();
    picker.set_demand(Some(demand_at(0)), now);
    let rate = 4.0 * f64::from(BLOCK_SIZE);
    // Both peers bring 4 blocks/s, but peer 1 still sends 8 blocks it was
    // asked to cancel (a seek): 2.25 s until a new block arrives.
    picker.set_backlog(1, 8 * u64::from(BLOCK_SIZE));
    assert!(picker.pick(2, &all, rate, 0, now).is_empty());
    // The piece due now is left to the idle peer; peer 1 takes the first
    // piece it can bring in time (due at 3 s).
    assert_eq!(
        picker.pick(1, &all, rate, 2, now),
        vec![block(3, 0), block(3, 1)]
    );
    assert_eq!(
        picker.pick(2, &all, rate, 2, now),
        vec![block(0, 0), block(0, 1)]
    );
    receive_all(&mut picker, 2, &[block(0, 0), block(0, 1)]);
    // A second later peer 1's blocks are not late: the wait for its
    // backlog was foreseen, so they are not fetched twice.
    let later = now + Duration::from_secs(1);
    let picked = picker.pick(2, &all, rate, 10, later);
    assert!(picked.iter().all(|b| b.piece != 3), "{picked:?}");
    assert_eq!(pieces_of(&picked)[..2], [1, 2]);
}

#[test]
fn seek_cancels_requests_that_left_the_window_and_moves_it_at_once() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    let now = Instant::now();
    picker.set_demand(Some(demand_at(0)), now);
    let before = picker.pick(1, &all, 1e6, 4, now);
    assert_eq!(pieces_of(&before), vec![0, 1]);
    assert!(picker.block_received(1, block(0, 0)).new);
    let seek = now + Duration::from_secs(1);
    let mut cancel = picker.set_demand(Some(demand_at(30 * u64::from(PIECE))), seek);
    cancel.sort_unstable();
    assert_eq!(
        cancel,
        vec![(1, block(0, 1)), (1, block(1, 0)), (1, block(1, 1))]
    );
    assert_eq!(deadlines(&picker)[0].piece, 30);
    let after = picker.pick(1, &all, 1e6, 4, seek);
    assert_eq!(pieces_of(&after), vec![30, 31]);
    // Received data of the old window is kept: only the rest is asked for.
    let rest = picker.pick(1, &all, 1e6, 40, seek);
    assert!(rest.contains(&block(0, 1)) && !rest.contains(&block(0, 0)));
}

#[test]
fn seek_cancels_work_outside_the_windows_so_the_new_window_is_not_queued_behind_it() {
    let p = u64::from(PIECE);
    let info = info(PIECE, &[40 * p]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    // Pieces 10 and 11 are the rarest: only the seed has them.
    let common: Vec<u32> = (0..40).filter(|p| ![10, 11].contains(p)).collect();
    picker.peer_has(2, &field(40, &common));
    let now = Instant::now();
    picker.set_demand(Some(demand_at(0)), now);
    // The window (pieces 0 and 1), then rarest-first work outside it.
    let before = picker.pick(1, &all, 1e6, 8, now);
    let mut pieces = pieces_of(&before);
    pieces.sort_unstable();
    assert_eq!(pieces, vec![0, 1, 10, 11]);
    // Playback moving on cancels only the piece left behind.
    let moved = now + Duration::from_secs(1);
    let cancel = picker.set_demand(Some(demand_at(p)), moved);
    assert_eq!(cancel, vec![(1, block(0, 0)), (1, block(0, 1))]);
    // A seek cancels all the rest: nothing stays queued at the peer.
    let seek = now + Duration::from_secs(2);
    let mut cancel = picker.set_demand(Some(demand_at(30 * p)), seek);
    cancel.sort_unstable();
    let mut expected: Vec<_> = before.iter().skip(2).map(|&b| (1, b)).collect();
    expected.sort_unstable();
    assert_eq!(cancel, expected);
    let after = picker.pick(1, &all, 1e6, 4, seek);
    assert_eq!(pieces_of(&after), vec![30, 31]);
}

#[test]
fn opening_the_stream_takes_back_work_queued_before_it_so_the_head_is_not_behind_it() {
    // The window adds the torrent, then opens the stream from the GTK
    // thread: peers connected in between queue rarest-first work (the
    // demo's seeders are rate-limited: seconds of it), and the head must
    // not wait behind that.
    let p = u64::from(PIECE);
    let info = info(PIECE, &[20 * p]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(20);
    picker.peer_has(1, &all);
    let now = Instant::now();
    let queued = picker.pick(1, &all, 1e6, 12, now);
    assert_eq!(queued.len(), 12);
    assert!(picker.block_received(1, queued[0]).new);
    let opened = now + Duration::from_secs(1);
    let mut cancel = picker.set_stream_file(Some(0), opened);
    cancel.sort_unstable();
    let mut expected: Vec<_> = queued[1..]
        .iter()
        .filter(|b| ![0, 19].contains(&b.piece))
        .map(|&b| (1, b))
        .collect();
    expected.sort_unstable();
    assert_eq!(cancel, expected);
    // The edges' blocks not already requested come first.
    let mut open_edges: Vec<_> = [block(0, 0), block(0, 1), block(19, 0), block(19, 1)]
        .into_iter()
        .filter(|b| !queued.contains(b))
        .collect();
    let mut first = picker.pick(1, &all, 1e6, 4, opened);
    first.truncate(open_edges.len());
    first.sort_unstable();
    open_edges.sort_unstable();
    assert_eq!(first, open_edges);
}

#[test]
fn head_and_tail_of_the_streamed_file_come_first() {
    // File 0: pieces 0-3; file 1: pieces 4-13; file 2: pieces 14-15.
    let p = u64::from(PIECE);
    let info = info(PIECE, &[4 * p, 10 * p, 2 * p]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(16);
    picker.peer_has(1, &all);
    let now = Instant::now();
    picker.set_wanted_files(&[false, true, false]);
    assert!(picker.set_stream_file(Some(1), now).is_empty());
    let picked = picker.pick(1, &all, 1e6, 4, now);
    assert_eq!(pieces_of(&picked), vec![4, 13]);
    // Once demand arrives, the head and tail still go before the window.
    picker.set_demand(Some(demand_at(8 * p)), now);
    receive_all(&mut picker, 1, &picked);
    picker.have_piece(4);
    let picked = picker.pick(1, &all, 1e6, 4, now);
    assert_eq!(pieces_of(&picked), vec![8, 9]);
}

#[test]
fn head_and_tail_prefetch_takes_the_outermost_pieces_first() {
    // Head and tail of three pieces each in a 10-piece file: the first and
    // the last piece (MP4 `ftyp` and an end `moov`) come before the rest.
    let now = Instant::now();
    let mut picker = streaming_with_prefetch(10, now);
    let order: Vec<u32> = deadlines(&picker).iter().map(|d| d.piece).collect();
    assert_eq!(order, vec![0, 9, 1, 8, 2, 7]);
    let all = Bitfield::full(10);
    picker.peer_has(1, &all);
    let picked = picker.pick(1, &all, 1e6, 4, now);
    assert_eq!(pieces_of(&picked), vec![0, 9]);
}

#[test]
fn peers_of_unknown_rate_share_the_critical_blocks_and_take_nothing_else() {
    let now = Instant::now();
    let mut picker = streaming_with_prefetch(10, now);
    let all = Bitfield::full(10);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    // The first frame's pieces 0 and 9 go to both new peers, not one.
    let first = picker.pick(1, &all, 0.0, 32, now);
    assert_eq!(pieces_of(&first), vec![0, 9]);
    let second = picker.pick(2, &all, 0.0, 32, now);
    assert_eq!(pieces_of(&second), vec![1, 8]);
    picker.peer_has(3, &all);
    let third = picker.pick(3, &all, 0.0, 32, now);
    assert_eq!(pieces_of(&third), vec![2, 7]);
    // With every critical block in flight, a fourth new peer gets nothing
    // to queue ahead of the next critical block.
    picker.peer_has(4, &all);
    assert!(picker.pick(4, &all, 0.0, 32, now).is_empty());
    // Once its rate is known a peer takes what it can deliver, and more.
    let measured = picker.pick(1, &all, 1e6, 32, now);
    assert!(measured.len() > 4, "{measured:?}");
}

#[test]
fn a_peer_of_unknown_rate_that_delivers_fast_may_queue_more_than_four_blocks() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(30.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    let start = Instant::now();
    picker.set_demand(Some(demand_at(0)), start);
    // Peer 1 brings its 4 critical blocks back at once, four times over.
    for round in 0..4 {
        let at = start + Duration::from_millis(round);
        let picked = picker.pick(1, &all, 0.0, 64, at);
        assert_eq!(picked.len(), UNKNOWN_RATE_CRITICAL_BLOCKS);
        receive_all(&mut picker, 1, &picked);
    }
    // Peer 2 (a slow libtorrent seeder) sends its first 4 at once too,
    // then nothing.
    let slow = picker.pick(2, &all, 0.0, 64, start);
    receive_all(&mut picker, 2, &slow);
    // After 100 ms peer 1 has proved 2.6 MB/s: one more block in flight
    // per block delivered (slow start); peer 2, at 0.66 MB/s, is still
    // held to 4 until its rate is measured.
    let later = start + Duration::from_millis(100);
    assert_eq!(picker.pick(1, &all, 0.0, 64, later).len(), 20);
    assert_eq!(
        picker.pick(2, &all, 0.0, 64, later).len(),
        UNKNOWN_RATE_CRITICAL_BLOCKS
    );
}

#[test]
fn a_peer_proven_fast_early_gets_a_provisional_rate_and_no_fixed_pipeline() {
    let info = info(PIECE, &[100 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(100.0)));
    let all = Bitfield::full(100);
    picker.peer_has(1, &all);
    let start = Instant::now();
    picker.set_demand(Some(demand_at(0)), start);
    // A burst of 8 blocks (131 kB) at once is what a rate-limited
    // libtorrent peer may send first: not proof of speed.
    for _ in 0..2 {
        let picked = picker.pick(1, &all, 0.0, 64, start);
        assert_eq!(picked.len(), UNKNOWN_RATE_CRITICAL_BLOCKS);
        receive_all(&mut picker, 1, &picked);
    }
    assert_eq!(picker.proven_rate(1, start), None);
    // One unlimited seeder: 60 blocks (983 kB) within 5 ms, more than
    // 2 MB/s would bring in 100 ms, proves it at once; its rate counts
    // over 100 ms at least.
    let soon = start + Duration::from_millis(5);
    let mut delivered = 8;
    while delivered < 60 {
        let picked = picker.pick(1, &all, 0.0, 64, soon);
        assert!(!picked.is_empty());
        delivered += picked.len();
        receive_all(&mut picker, 1, &picked);
    }
    let rate = picker.proven_rate(1, soon).expect("proven fast");
    let expected = delivered as f64 * f64::from(BLOCK_SIZE) / 0.1;
    assert!((rate - expected).abs() < 1.0, "{rate} vs {expected}");
    // Slow start goes on past the 32 blocks it used to stop at: one more
    // block per block delivered.
    let picked = picker.pick(1, &all, 0.0, 1000, soon);
    assert_eq!(picked.len(), UNKNOWN_RATE_CRITICAL_BLOCKS + delivered);
}

#[test]
fn peers_of_unknown_rate_copy_overdue_blocks_stuck_in_other_queues_before_later_ones() {
    let now = Instant::now();
    let mut picker = streaming_with_prefetch(10, now);
    let all = Bitfield::full(10);
    for peer in 1..=4 {
        picker.peer_has(peer, &all);
    }
    // The first two peers to connect hold the first frame's pieces 0 and 9
    // and the next ones, 1 and 8, queued behind their rate limits.
    let first = picker.pick(1, &all, 0.0, 32, now);
    assert_eq!(pieces_of(&first), vec![0, 9]);
    assert_eq!(pieces_of(&picker.pick(2, &all, 0.0, 32, now)), vec![1, 8]);
    // A third peer connecting at once takes open blocks: those in flight
    // may still come in the first peers' own first burst.
    let soon = now + Duration::from_millis(10);
    assert_eq!(pieces_of(&picker.pick(3, &all, 0.0, 32, soon)), vec![2, 7]);
    // A fourth one, half a second on: its first request, answered at once,
    // copies the first frame's blocks, not the open ones due later.
    let later = now + Duration::from_millis(500);
    let fourth = picker.pick(4, &all, 0.0, 32, later);
    assert_eq!(fourth, first);
    // Whichever copy comes first cancels the other.
    let got = picker.block_received(4, block(0, 0));
    assert_eq!(got.cancel, vec![(1, block(0, 0))]);
    // With room again it copies the next stuck block (one extra copy at
    // most: pieces 0 and 9 have theirs), not an open one.
    assert_eq!(picker.pick(4, &all, 0.0, 32, later), vec![block(1, 0)]);
    // Once measured, peers are judged by their rates and queues instead.
    let measured = picker.pick(3, &all, 1e6, 32, later);
    assert!(!measured.contains(&block(0, 1)), "{measured:?}");
}

#[test]
fn prefetch_guesses_beyond_the_edge_pieces_yield_once_the_demuxer_reads() {
    let now = Instant::now();
    let mut picker = streaming_with_prefetch(20, now);
    let all = Bitfield::full(20);
    picker.peer_has(1, &all);
    let picked = picker.pick(1, &all, 1e6, 8, now);
    assert_eq!(pieces_of(&picked), vec![0, 19, 1, 18]);
    // The demuxer reads the header: its window replaces the guesses, the
    // last piece (an end index) stays, and the guessed tail is cancelled.
    let cancel = picker.set_demand(Some(demand_at(0)), now);
    assert_eq!(cancel, vec![(1, block(18, 0)), (1, block(18, 1))]);
    let order: Vec<u32> = deadlines(&picker).iter().map(|d| d.piece).collect();
    assert_eq!(order, vec![0, 19, 1]);
}

#[test]
fn requests_sent_before_a_peer_was_measured_are_not_duplicated_once_it_is() {
    let p = u64::from(PIECE);
    let info = info(PIECE, &[10 * p]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(10);
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    let now = Instant::now();
    picker.set_stream_file(Some(0), now);
    let first = picker.pick(1, &all, 0.0, 4, now);
    assert_eq!(first.len(), 4);
    // A second later peer 1 is measured and quick: its requests are due
    // within milliseconds, so peer 2 takes other blocks, not copies.
    let later = now + Duration::from_secs(1);
    assert!(picker.pick(1, &all, 1e6, 0, later).is_empty());
    let second = picker.pick(2, &all, 1e6, 4, later);
    assert!(second.iter().all(|b| !first.contains(b)), "{second:?}");
    // Had peer 1 stayed unmeasured, its copies would be rescued.
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    picker.peer_has(1, &all);
    picker.peer_has(2, &all);
    picker.set_stream_file(Some(0), now);
    let first = picker.pick(1, &all, 0.0, 4, now);
    let second = picker.pick(2, &all, 1e6, 4, later);
    assert!(second.iter().any(|b| first.contains(b)), "{second:?}");
}

#[test]
fn read_head_in_an_unwanted_file_fetches_its_window_and_nothing_else_there() {
    let p = u64::from(PIECE);
    let info = info(PIECE, &[10 * p, 10 * p]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(20);
    picker.peer_has(1, &all);
    picker.set_wanted_files(&[false, true]);
    let now = Instant::now();
    // The window is clamped to the file the head is in.
    picker.set_demand(Some(demand_at(9 * p)), now);
    assert_eq!(
        deadlines(&picker)
            .iter()
            .map(|d| d.piece)
            .collect::<Vec<_>>(),
        vec![9]
    );
    let picked = picker.pick(1, &all, 1e6, 100, now);
    let mut pieces = pieces_of(&picked);
    pieces.sort_unstable();
    assert_eq!(pieces, vec![9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
}

#[test]
fn outside_the_window_the_deadline_policy_picks_rarest_first() {
    let info = info(PIECE, &[10 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(10);
    picker.peer_has(1, &all);
    picker.peer_has(2, &field(10, &[0, 1, 2, 3, 4, 5, 6, 8, 9]));
    picker.peer_has(3, &field(10, &[0, 1, 2, 3, 4, 5, 6, 8, 9]));
    let now = Instant::now();
    picker.set_demand(Some(demand_at(0)), now);
    // Window: pieces 0 and 1; then piece 7, which only the seed has.
    let picked = picker.pick(1, &all, 1e6, 6, now);
    assert_eq!(pieces_of(&picked), vec![0, 1, 7]);
}

/// Prints the cost of `pick` while streaming on a 2,097,152-piece torrent
/// (the largest allowed) and, for scale, a 16,384-piece one: 20 seeds and
/// 5 peers with every other piece, a read head moving at 2 MB/s, blocks
/// arriving 100 picks after they were asked for. Run with
/// `cargo test --lib picker::tests::pick_benchmark -- --ignored --nocapture`.
#[test]
#[ignore]
fn pick_benchmark_prints_ns_per_pick() {
    for pieces in [2_097_152, 16_384] {
        benchmark_picks(pieces);
    }
}

fn benchmark_picks(piece_count: u32) {
    const DELAY: u64 = 100;
    // Stop well before the torrent completes: empty picks are cheap.
    let rounds = 50_000.min(u64::from(piece_count) / 8);
    let info = info(
        BLOCK_SIZE,
        &[u64::from(piece_count) * u64::from(BLOCK_SIZE)],
    );
    let all = Bitfield::full(piece_count);
    let mut half = Bitfield::new(piece_count);
    for piece in (0..piece_count).step_by(2) {
        half.set(piece);
    }
    let setup = Instant::now();
    let mut picker = Picker::new(&info, Policy::default());
    for peer in 0..25 {
        picker.peer_has(peer, if peer < 20 { &all } else { &half });
    }
    let start = Instant::now();
    // The first pick sorts the pieces by rarity once.
    let first = picker.pick(0, &all, 1e5, 4, start);
    println!(
        "{piece_count} pieces: new + 25 bitfields + first pick: {:?}",
        setup.elapsed()
    );
    let mut now = start;
    let mut head = u64::from(piece_count / 2) * u64::from(BLOCK_SIZE);
    let mut in_flight: std::collections::VecDeque<_> =
        first.into_iter().map(|b| (DELAY, 0, b)).collect();
    let mut picked = 0;
    let mut pick_time = Duration::ZERO;
    for round in 0..rounds {
        if round % 1000 == 0 {
            let demand = Demand {
                read_heads: vec![head],
                bytes_per_second: 2e6,
                playing: true,
            };
            picker.set_demand(Some(demand), now);
        }
        let peer = round % 25;
        let pieces = if peer < 20 { &all } else { &half };
        let timer = Instant::now();
        let blocks = picker.pick(peer, pieces, 1e5 * (peer + 1) as f64, 4, now);
        pick_time += timer.elapsed();
        picked += blocks.len();
        in_flight.extend(blocks.into_iter().map(|b| (round + DELAY, peer, b)));
        while in_flight.front().is_some_and(|&(due, _, _)| due <= round) {
            if let Some((_, from, b)) = in_flight.pop_front()
                && picker.block_received(from, b).piece_complete
            {
                picker.have_piece(b.piece);
            }
        }
        now += Duration::from_micros(50);
        head += 100; // 2 MB/s over 50 µs
    }
    println!(
        "{piece_count} pieces: {rounds} picks, {picked} blocks: {:.0} ns per pick",
        pick_time.as_nanos() as f64 / rounds as f64
    );
}

#[test]
fn pieces_holding_only_pad_files_are_not_wanted() {
    let mut info = info(PIECE, &[u64::from(PIECE); 3]);
    info.files[1].pad = true;
    let mut picker = Picker::new(&info, Policy::Sequential);
    let all = Bitfield::full(3);
    picker.peer_has(1, &all);
    let picked = picker.pick(1, &all, 0.0, 100, Instant::now());
    assert_eq!(pieces_of(&picked), vec![0, 2]);
    picker.have_piece(0);
    picker.have_piece(2);
    assert!(picker.is_complete());
}

#[test]
fn block_on_a_slow_peer_that_becomes_time_critical_is_rescued_by_a_fast_one() {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(2.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    picker.peer_has(2, &field(40, &[5]));
    let now = Instant::now();
    // Before any demand, the slow peer (1 KB/s) starts piece 5.
    let slow = picker.pick(2, &field(40, &[5]), 1e3, 2, now);
    assert_eq!(slow, vec![block(5, 0), block(5, 1)]);
    // Now the player needs piece 5 at once: not late yet, but the slow
    // copies would arrive in 16 s and 32 s.
    let soon = now + Duration::from_millis(10);
    assert!(
        picker
            .set_demand(Some(demand_at(5 * u64::from(PIECE))), soon)
            .is_empty()
    );
    let fast = picker.pick(1, &all, 1e6, 2, soon);
    assert_eq!(fast, vec![block(5, 0), block(5, 1)]);
    let arrived = picker.block_received(1, block(5, 0));
    assert_eq!(arrived.cancel, vec![(2, block(5, 0))]);
}

/// 40 pieces of two blocks, one piece per second of media, a 6 s window
/// whose first two pieces are had: pieces 2 to 5 are due after 2 to 5 s.
/// Peers `1..=peers` have everything and are known at `rate` bytes/s;
/// the standby source is 9.
fn standby_scenario(peers: u64, rate: f64, now: Instant) -> Picker {
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(6.0)));
    let all = Bitfield::full(40);
    for peer in (1..=peers).chain([9]) {
        picker.peer_has(peer, &all);
    }
    picker.set_demand(Some(demand_at(0)), now);
    picker.have_piece(0);
    picker.have_piece(1);
    for peer in 1..=peers {
        assert!(picker.pick(peer, &all, rate, 0, now).is_empty());
    }
    picker
}

#[test]
fn standby_source_is_not_asked_while_the_peers_bring_the_window_in_time() {
    let now = Instant::now();
    // Two peers at the bitrate each: the eight blocks by 2 s, each at least
    // `RESCUE_MARGIN` before its deadline.
    let mut picker = standby_scenario(2, f64::from(PIECE), now);
    let all = Bitfield::full(40);
    assert!(picker.pick_rescue(9, &all, 1e6, 64, now).is_empty());
}

#[test]
fn standby_source_gets_exactly_the_blocks_the_peers_together_would_bring_late() {
    let now = Instant::now();
    // Two peers at a quarter of the bitrate each: a block takes either 2 s.
    // One block each is in time for pieces 3 to 5, but together they bring
    // two blocks by 2 s and the next two by 4 s: a margin of a second
    // short for pieces 2 and 4.
    let slow = f64::from(PIECE) / 4.0;
    let mut picker = standby_scenario(2, slow, now);
    let all = Bitfield::full(40);
    let rescued = picker.pick_rescue(9, &all, 1e6, 64, now);
    assert_eq!(pieces_of(&rescued), vec![2, 4]);
    assert_eq!(rescued.len(), 4);
    // The peers take what was planned for them.
    let critical = |picked: Vec<BlockRequest>| -> Vec<u32> {
        pieces_of(&picked).into_iter().filter(|&p| p < 6).collect()
    };
    assert_eq!(critical(picker.pick(1, &all, slow, 4, now)), vec![3, 5]);
    assert_eq!(critical(picker.pick(2, &all, slow, 4, now)), vec![3, 5]);
}

#[test]
fn standby_source_counts_a_peer_of_unknown_rate_for_a_few_blocks_only() {
    let now = Instant::now();
    let info = info(PIECE, &[40 * u64::from(PIECE)]);
    let mut picker = Picker::new(&info, Policy::Deadline(streaming(8.0)));
    let all = Bitfield::full(40);
    picker.peer_has(1, &all);
    picker.peer_has(9, &all);
    picker.set_demand(Some(demand_at(0)), now);
    picker.have_piece(0);
    assert!(picker.pick(1, &all, 0.0, 0, now).is_empty());
    // A new peer is counted on for 4 blocks within 3 s, a second before
    // their deadline: pieces 4 and 5. The pieces due sooner, and those
    // beyond its 4 blocks, are rescued.
    let rescued = picker.pick_rescue(9, &all, 1e6, 64, now);
    assert_eq!(pieces_of(&rescued), vec![1, 2, 3, 6, 7]);
}

#[test]
fn standby_source_takes_a_copy_its_measured_peer_will_bring_after_the_deadline() {
    let now = Instant::now();
    // One peer at a block per 4 s; the standby source has not asked yet, so
    // the peer takes pieces 2 and 3 though its copies arrive at 4 to 16 s.
    let slow = f64::from(PIECE) / 8.0;
    let mut picker = standby_scenario(1, slow, now);
    let all = Bitfield::full(40);
    let held = picker.pick(1, &all, slow, 4, now);
    assert_eq!(pieces_of(&held), vec![2, 3]);
    let rescued = picker.pick_rescue(9, &all, 1e6, 64, now);
    assert_eq!(pieces_of(&rescued), vec![2, 3, 4, 5]);
    // The first copy to arrive cancels the other.
    let arrived = picker.block_received(9, block(2, 0));
    assert_eq!(arrived.cancel, vec![(1, block(2, 0))]);
}

#[test]
fn origin_asked_like_a_peer_takes_work_beyond_the_window_too() {
    // Under "always" the origin is picked through `pick`: after the window
    // it takes rarest-first work like any peer; `pick_rescue` never does.
    let now = Instant::now();
    let mut picker = standby_scenario(1, f64::from(PIECE) / 4.0, now);
    let all = Bitfield::full(40);
    let rescue = picker.pick_rescue(9, &all, 1e6, 64, now);
    assert!(!rescue.is_empty());
    assert!(rescue.iter().all(|b| b.piece < 6), "{rescue:?}");
    let always = picker.pick(9, &all, 1e6, 64, now);
    assert!(always.iter().any(|b| b.piece >= 6), "{always:?}");
}
