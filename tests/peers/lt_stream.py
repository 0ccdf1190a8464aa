"""libtorrent streaming the way libtorrent-based players do, for the
streaming benchmark's "libtorrent + deadlines" row.

  lt_stream.py TORRENT SAVE_DIR

Sequential download, not queued; at start the head and tail pieces (the first and last
HEAD_TAIL_SHARE of the file, at least one piece each) get deadline 0; each
read sets deadlines on the pieces it covers and on a read-ahead window
after them, spaced by the playback rate; a seek clears every deadline.
DHT, LSD, PEX, UPnP, NAT-PMP and uTP are off: only the torrent's tracker.

Speaks the rival driver protocol of tests/common/rivals.rs on stdin and
stdout: prints `hello` when loaded, adds the torrent on `start`, answers
`ID read OFFSET LEN` with `ID ok` once those bytes were read from the
downloaded file, `ID have OFFSET LEN` with `ID yes` or `ID no`,
`ID complete` with `ID ok` once the file is whole; `playback B/S` sets the
rate the read-ahead deadlines are spaced by, `seek` forgets the read
heads; prints `peer` when the first peer connects.
"""
import os
import queue
import sys
import threading

import libtorrent as lt

from lt_peer import session

# The container's index lives at one end: MP4 `moov`, Matroska cues.
HEAD_TAIL_SHARE = 0.01
# Pieces after a read that get deadlines: this many seconds of media.
READ_AHEAD_SECONDS = 10.0
# Before the player knows the bitrate: this many pieces, 1 s apart.
READ_AHEAD_PIECES_UNKNOWN_RATE = 4


def read_commands(commands):
    for line in sys.stdin:
        commands.put(line.split())
    commands.put(["eof"])


class Streamer:
    def __init__(self, ses, torrent, save_dir):
        self.info = lt.torrent_info(torrent)
        params = lt.add_torrent_params()
        params.ti = self.info
        params.save_path = save_dir
        params.flags |= (lt.torrent_flags.sequential_download | lt.torrent_flags.disable_dht
                         | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex)
        # Started at once: an auto-managed torrent waits for the session's
        # queue, which starts it up to a second later.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        self.handle = ses.add_torrent(params)
        self.piece_length = self.info.piece_length()
        self.pieces = self.info.num_pieces()
        self.length = self.info.total_size()
        self.path = os.path.join(save_dir, self.info.files().file_path(0))
        self.bytes_per_second = 0.0
        self.playhead_piece = None
        edge = max(1, int(self.pieces * HEAD_TAIL_SHARE + 0.999))
        for piece in list(range(edge)) + list(range(self.pieces - edge, self.pieces)):
            self.handle.set_piece_deadline(piece, 0)

    def covering(self, offset, length):
        first = offset // self.piece_length
        last = min(self.pieces - 1, (offset + max(length, 1) - 1) // self.piece_length)
        return range(first, last + 1)

    def has(self, pieces):
        return all(self.handle.have_piece(p) for p in pieces)

    def read_head_at(self, pieces):
        """Deadlines for the pieces of a read and the window after it."""
        if pieces.start == self.playhead_piece:
            return
        self.playhead_piece = pieces.start
        for piece in pieces:
            if not self.handle.have_piece(piece):
                self.handle.set_piece_deadline(piece, 0)
        if self.bytes_per_second > 0:
            spacing = self.piece_length / self.bytes_per_second
            ahead = int(READ_AHEAD_SECONDS / spacing + 0.999)
        else:
            spacing = 1.0
            ahead = READ_AHEAD_PIECES_UNKNOWN_RATE
        for k in range(1, ahead + 1):
            piece = pieces.stop - 1 + k
            if piece >= self.pieces:
                break
            if not self.handle.have_piece(piece):
                self.handle.set_piece_deadline(piece, int(k * spacing * 1000))

    def read(self, offset, length):
        """The bytes, as a player reading the file would get them."""
        with open(self.path, "rb") as data:
            data.seek(offset)
            return len(data.read(length)) == min(length, self.length - offset)

    def seek(self):
        self.handle.clear_piece_deadlines()
        self.playhead_piece = None

    def complete(self):
        return self.handle.status().is_seeding


def main():
    torrent, save_dir = sys.argv[1], sys.argv[2]
    ses = session("127.0.0.1", 0, 0, None)
    ses.apply_settings({
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.piece_progress_notification,
    })
    commands = queue.Queue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
    print("hello", flush=True)
    streamer = None
    reads = []
    completes = []
    peer_seen = False
    while True:
        while not commands.empty():
            words = commands.get()
            if words == ["eof"]:
                return 0
            if words == ["start"]:
                streamer = Streamer(ses, torrent, save_dir)
            elif words[0] == "playback":
                streamer.bytes_per_second = float(words[1])
            elif words == ["seek"]:
                reads.clear()
                streamer.seek()
            elif words[1] == "read":
                pieces = streamer.covering(int(words[2]), int(words[3]))
                streamer.read_head_at(pieces)
                reads.append((words[0], int(words[2]), int(words[3]), pieces))
            elif words[1] == "have":
                pieces = streamer.covering(int(words[2]), int(words[3]))
                print(f"{words[0]} {'yes' if streamer.has(pieces) else 'no'}", flush=True)
            elif words[1] == "complete":
                completes.append(words[0])
        done = [r for r in reads if streamer.has(r[3])]
        for read in done:
            reads.remove(read)
            if streamer.read(read[1], read[2]):
                print(f"{read[0]} ok", flush=True)
            else:
                print(f"{read[0]} error short read", flush=True)
        if completes and streamer.complete():
            for request in completes:
                print(f"{request} ok", flush=True)
            completes.clear()
        if streamer and not peer_seen and streamer.handle.status().num_peers > 0:
            peer_seen = True
            print("peer", flush=True)
        ses.wait_for_alert(5)
        for alert in ses.pop_alerts():
            if alert.category() & lt.alert.category_t.error_notification:
                print(f"libtorrent: {alert.message()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
