"""A libtorrent DHT node on 127.0.0.1 with no torrent: the node a loopback
test DHT is bootstrapped from (tests never reach the public DHT).

  lt_dht_node.py

Prints `listening on 127.0.0.1:PORT` (the DHT's UDP port) and runs until
killed. Routing and search restrictions that assume one node per address
are off: every node of the test DHT shares 127.0.0.1.
"""
import time

import libtorrent as lt


def main():
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
    })
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.05)
    print(f"listening on 127.0.0.1:{ses.listen_port()}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
