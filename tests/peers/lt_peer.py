"""A libtorrent peer on 127.0.0.1 for Piecewise's engine tests and benchmark.

  lt_peer.py seed TORRENT SAVE_DIR [options]
      seeds the data in SAVE_DIR (checked first, unless --trust-data)
  lt_peer.py leech TORRENT SAVE_DIR [options]
      downloads into SAVE_DIR, prints a JSON summary and exits 0 when done;
      TORRENT may be a magnet link (metadata fetched from the peers)
  lt_peer.py metadata MAGNET SAVE_DIR [options]
      resolves the magnet link, prints {"metadata_seconds": S} (from adding
      the link to libtorrent's metadata_received_alert) and exits 0

Options:
  --peer HOST:PORT     connect to this peer (repeatable; retried)
  --upload-limit B/S   libtorrent's per-session upload limit
  --trust-data         seed SAVE_DIR as it is, without hashing it: with
                       corrupted data this makes a seeder that lies
  --timeout SECONDS    leech: give up (exit 1) after this long
  --listen-ip IP       loopback address to listen on (default 127.0.0.1);
                       peers on distinct addresses can be told apart (bans)
  --download-limit B/S libtorrent's per-session download limit
  --dht-bootstrap HOST:PORT
                       join a DHT through this (loopback) node and announce
                       the torrent there; without it the DHT is off

Prints `listening on IP:PORT` once the listen socket is up, `announced`
after the first tracker reply and `dht announced` after the first DHT
announce. LSD, UPnP, NAT-PMP and uTP are off: only TCP (and the DHT's UDP
when asked) on loopback.
"""
import argparse
import json
import os
import sys
import time

import libtorrent as lt


def session(listen_ip, upload_limit, download_limit, dht_bootstrap):
    settings = {
        "listen_interfaces": f"{listen_ip}:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        # All test peers share 127.0.0.1.
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.tracker_notification,
    }
    if upload_limit:
        settings["upload_rate_limit"] = int(upload_limit)
    if download_limit:
        settings["download_rate_limit"] = int(download_limit)
    if dht_bootstrap:
        settings.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": dht_bootstrap,
            # Every node of the test DHT shares 127.0.0.1.
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
        })
        # The end of an announce shows only in the torrent's log.
        settings["alert_mask"] |= lt.alert.category_t.torrent_log_notification
    ses = lt.session(settings)
    if upload_limit or download_limit:
        # Loopback peers are in libtorrent's unlimited local class by
        # default: put every address in the global, rate-limited class.
        everyone = lt.ip_filter()
        everyone.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(everyone)
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.05)
    return ses


def parse_peer(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["seed", "leech", "metadata"])
    parser.add_argument("torrent")
    parser.add_argument("save_dir")
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--upload-limit", type=int, default=0)
    parser.add_argument("--trust-data", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--listen-ip", default="127.0.0.1")
    parser.add_argument("--download-limit", type=int, default=0)
    parser.add_argument("--dht-bootstrap")
    args = parser.parse_args()

    ses = session(args.listen_ip, args.upload_limit, args.download_limit, args.dht_bootstrap)
    if args.trust_data:
        # Seed mode trusts the files; with hash checks off libtorrent does
        # not verify them lazily either, so corrupt data is served as is.
        ses.apply_settings({"disable_hash_checks": True})
    if args.torrent.startswith("magnet:"):
        params = lt.parse_magnet_uri(args.torrent)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save_dir
    if args.trust_data:
        params.flags |= lt.torrent_flags.seed_mode
    added = time.time()
    handle = ses.add_torrent(params)
    # Say where we listen only once the torrent is served: a peer that
    # connects while its files are still being checked is turned away and
    # waits out its reconnect delay.
    deadline = time.time() + 10
    while args.role == "seed" and not handle.status().is_seeding and time.time() < deadline:
        time.sleep(0.02)
    print(f"listening on {args.listen_ip}:{ses.listen_port()}", flush=True)
    peers = [parse_peer(p) for p in args.peer]

    start = time.time()
    cpu_start = os.times()
    last_connect = 0.0
    announced = False
    dht_announced = False
    while True:
        now = time.time()
        if peers and now - last_connect > 2:
            last_connect = now
            for peer in peers:
                handle.connect_peer(peer)
        status = handle.status()
        if args.role == "leech" and status.is_seeding:
            cpu = os.times()
            print(json.dumps({
                "seconds": time.time() - start,
                "bytes": status.total_wanted,
                "cpu_seconds": (cpu.user - cpu_start.user) + (cpu.system - cpu_start.system),
            }), flush=True)
            return 0
        if args.role != "seed" and now - start > args.timeout:
            print(f"timed out with {status.num_pieces} pieces", file=sys.stderr, flush=True)
            return 1
        ses.wait_for_alert(100)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.tracker_reply_alert) and not announced:
                announced = True
                print("announced", flush=True)
            elif (isinstance(alert, lt.torrent_log_alert) and not dht_announced
                  and "END DHT announce" in alert.message()):
                dht_announced = True
                print("dht announced", flush=True)
            elif isinstance(alert, lt.metadata_received_alert) and args.role == "metadata":
                print(json.dumps({"metadata_seconds": time.time() - added}), flush=True)
                return 0
            elif alert.category() & lt.alert.category_t.error_notification:
                print(f"libtorrent: {alert.message()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
