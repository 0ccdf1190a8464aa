//! The UI's views of a torrent's inside, asked for through the command
//! channel: each piece's state and the connected peers.

use super::TorrentTask;
use crate::engine::bitfield::Bitfield;
use crate::engine::events::{PeerSnapshot, PieceState};

impl TorrentTask {
    pub(super) fn piece_states(&self) -> Vec<PieceState> {
        let piece_count = self.metainfo.info.piece_count();
        let mut critical = Bitfield::new(piece_count);
        for due in self.picker.deadlines() {
            critical.set(due.piece);
        }
        (0..piece_count)
            .map(|piece| {
                if self.have.get(piece) {
                    PieceState::Verified
                } else if critical.get(piece) {
                    PieceState::TimeCritical
                } else if self.pieces.contains_key(&piece) {
                    PieceState::Downloading
                } else {
                    PieceState::Missing
                }
            })
            .collect()
    }

    pub(super) fn peer_snapshots(&self) -> Vec<PeerSnapshot> {
        self.peers
            .values()
            .filter(|peer| peer.handshaken)
            .map(|peer| PeerSnapshot {
                addr: peer.addr,
                client: peer.client.clone(),
                download_rate: peer.download_rate.get(),
                upload_rate: peer.upload_rate.get(),
                pieces: peer.pieces.count(),
                choking_us: peer.peer_choking,
                interested_in_us: peer.peer_interested,
                choked_by_us: peer.am_choking,
                we_are_interested: peer.am_interested,
                snubbed: peer.snubbed,
                incoming: !peer.outgoing,
            })
            .collect()
    }
}
