//! A DHT that lives entirely on 127.0.0.1: a libtorrent node
//! (tests/peers/lt_dht_node.py) that libtorrent sessions and Piecewise
//! join through. Nothing here ever names a public router.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use super::peers::{Peer, libtorrent_seeders};

pub struct LoopbackDht {
    /// The bootstrap node's process, killed when dropped.
    _node: Peer,
    pub addr: SocketAddr,
}

impl LoopbackDht {
    pub fn start() -> LoopbackDht {
        let mut command = Command::new("/usr/bin/python3");
        command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/lt_dht_node.py"));
        let node = Peer::spawn(command);
        LoopbackDht {
            addr: node.addr,
            _node: node,
        }
    }

    /// `lt_peer.py` arguments that join this DHT and announce there.
    pub fn libtorrent_args(&self) -> Vec<String> {
        vec!["--dht-bootstrap".into(), self.addr.to_string()]
    }

    /// `count` libtorrent seeders of `torrent` (data in `save_dir`), back
    /// once each has announced itself in this DHT.
    pub fn announced_seeders(&self, count: usize, torrent: &Path, save_dir: &Path) -> Vec<Peer> {
        let mut seeders = libtorrent_seeders(count, torrent, save_dir, &self.libtorrent_args());
        for seeder in &mut seeders {
            seeder.wait_for_line("dht announced");
        }
        seeders
    }
}
