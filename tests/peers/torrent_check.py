"""libtorrent as a reference for torrent files, for tests/create.rs.

  torrent_check.py inspect FILE.torrent
      prints libtorrent's view as JSON (info-hash, pieces, files)
  torrent_check.py verify FILE.torrent SAVE_DIR
      has libtorrent hash the data in SAVE_DIR; prints the pieces it has
  torrent_check.py make PATH OUT.torrent PIECE_LENGTH
      writes a torrent made by libtorrent (no trackers), then inspects it
"""
import json
import os
import sys
import time

import libtorrent as lt


def inspect(path):
    info = lt.torrent_info(path)
    files = info.files()
    print(json.dumps({
        "info_hash": str(info.info_hashes().v1),
        "num_pieces": info.num_pieces(),
        "piece_length": info.piece_length(),
        "total_size": info.total_size(),
        "name": info.name(),
        "private": info.priv(),
        "trackers": [t.url for t in info.trackers()],
        "web_seeds": [w["url"] for w in info.web_seeds()],
        "files": [[files.file_path(i), files.file_size(i)] for i in range(files.num_files())],
    }))


def verify(path, save_dir):
    session = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "alert_mask": lt.alert.category_t.status_notification,
    })
    handle = session.add_torrent({"ti": lt.torrent_info(path), "save_path": save_dir})
    deadline = time.time() + 60
    checked = False
    while not checked and time.time() < deadline:
        session.wait_for_alert(500)
        checked = any(isinstance(a, lt.torrent_checked_alert) for a in session.pop_alerts())
    print(json.dumps({"checked": checked, "num_pieces_had": handle.status().num_pieces}))


def make(path, out, piece_length):
    storage = lt.file_storage()
    lt.add_files(storage, path)
    torrent = lt.create_torrent(storage, int(piece_length))
    lt.set_piece_hashes(torrent, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(torrent.generate()))
    inspect(out)


if __name__ == "__main__":
    {"inspect": inspect, "verify": verify, "make": make}[sys.argv[1]](*sys.argv[2:])
