//! Test data, torrents made with `piecewise create`, libtorrent peers
//! (tests/peers/lt_peer.py) and Piecewise processes, all on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use piecewise::engine::metainfo::Metainfo;

/// Writes deterministic pseudo-random bytes (xorshift, seeded per file).
pub fn write_data(path: &Path, len: usize, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

/// A multi-file torrent's data below `root/name`: files of odd sizes so that
/// pieces span file boundaries.
pub fn write_multi_file_data(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    write_data(&dir.join("a.bin"), 1_500_000, 1);
    write_data(&dir.join("sub/b.bin"), 700_001, 2);
    write_data(&dir.join("sub/deeper/c.bin"), 33, 3);
    write_data(&dir.join("d.bin"), 1_048_576, 4);
    dir
}

/// The multi-file data below `dir/seed/multi` and its torrent
/// `dir/multi.torrent` naming `trackers` (the info-hash does not depend on
/// them, so a tracker can be whitelisted before the torrent names it).
pub fn seeded_torrent(dir: &Path, trackers: &[String]) -> (PathBuf, PathBuf, Metainfo) {
    let data = write_multi_file_data(&dir.join("seed"), "multi");
    let torrent = dir.join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, trackers);
    let metainfo = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (data, torrent, metainfo)
}

/// A magnet link for `metainfo` naming `peers` (`x.pe`) and `trackers`.
pub fn magnet_uri(metainfo: &Metainfo, peers: &[SocketAddr], trackers: &[String]) -> String {
    let mut uri = format!(
        "magnet:?xt=urn:btih:{}&dn={}",
        metainfo.info_hash.to_hex(),
        metainfo.info.name
    );
    for peer in peers {
        uri.push_str(&format!("&x.pe={peer}"));
    }
    for tracker in trackers {
        uri.push_str(&format!("&tr={tracker}"));
    }
    uri
}

/// Makes a torrent of `path` with `piecewise create`.
pub fn create_torrent(path: &Path, out: &Path, piece_length: u32, trackers: &[String]) {
    create_torrent_with_web_seeds(path, out, piece_length, trackers, &[]);
}

/// Like [`create_torrent`], naming web seeds (BEP 19 `url-list`) too.
pub fn create_torrent_with_web_seeds(
    path: &Path,
    out: &Path,
    piece_length: u32,
    trackers: &[String],
    web_seeds: &[String],
) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    command
        .arg("create")
        .arg(path)
        .arg("-o")
        .arg(out)
        .arg("--piece-length")
        .arg(piece_length.to_string());
    for tracker in trackers {
        command.arg("--tracker").arg(tracker);
    }
    for web_seed in web_seeds {
        command.arg("--web-seed").arg(web_seed);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "piecewise create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Reads lines from a child's stdout until one says `listening on IP:PORT`.
fn read_listen_addr(stdout: ChildStdout) -> (SocketAddr, BufReader<ChildStdout>) {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).unwrap();
        assert!(read > 0, "process exited before listening");
        if let Some(addr) = line.trim().strip_prefix("listening on ") {
            let mut addr: SocketAddr = addr.parse().unwrap();
            if addr.ip().is_unspecified() {
                addr.set_ip([127, 0, 0, 1].into());
            }
            return (addr, reader);
        }
    }
}

/// A child process killed when dropped.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub fn spawn(mut command: Command) -> Peer {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let (addr, stdout) = read_listen_addr(child.stdout.take().unwrap());
        Peer {
            child,
            addr,
            stdout,
        }
    }

    /// Reads the process's stdout until a line equals `expected`.
    pub fn wait_for_line(&mut self, expected: &str) {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).unwrap();
            assert!(read > 0, "process exited before printing {expected:?}");
            if line.trim() == expected {
                return;
            }
        }
    }

    /// Waits for the process to exit, up to `timeout`; panics after that.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not finish in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lt_peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/lt_peer.py")
}

/// A libtorrent peer: `role` is "seed" or "leech".
pub fn libtorrent(role: &str, torrent: &Path, save_dir: &Path, extra: &[String]) -> Peer {
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(lt_peer_script())
        .arg(role)
        .arg(torrent)
        .arg(save_dir)
        .args(extra);
    Peer::spawn(command)
}

/// `count` libtorrent seeders of `torrent`, the data in `save_dir`.
pub fn libtorrent_seeders(
    count: usize,
    torrent: &Path,
    save_dir: &Path,
    extra: &[String],
) -> Vec<Peer> {
    (0..count)
        .map(|_| libtorrent("seed", torrent, save_dir, extra))
        .collect()
}

/// `piecewise VERB ... TORRENT` listening on 127.0.0.1, without the DHT
/// unless `args` name loopback bootstrap nodes (tests never reach the
/// public DHT); stderr is kept in `log` for assertions and failure
/// messages.
pub fn piecewise(verb: &str, args: &[String], torrent: &Path, log: &Path) -> Peer {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    command.arg(verb).arg("--listen-ip").arg("127.0.0.1");
    if !args.iter().any(|arg| arg == "--dht-bootstrap") {
        command.arg("--no-dht");
    }
    command
        .args(args)
        .arg(torrent)
        .stderr(std::fs::File::create(log).unwrap());
    Peer::spawn(command)
}

/// Seeds `torrent` from `dir/seed` with `piecewise seed`, and has a
/// libtorrent leecher that knows only that seeder fetch `leech_source` (the
/// same torrent as a file or as a magnet link) into `dir/leech`; asserts it
/// finishes with the bytes of `data`.
pub fn assert_libtorrent_leeches_from_piecewise(
    dir: &Path,
    torrent: &Path,
    leech_source: &Path,
    data: &Path,
) {
    let log = dir.join("seed.log");
    let seed_dir = dir.join("seed").display().to_string();
    let seeder = piecewise("seed", &["--download-dir".into(), seed_dir], torrent, &log);
    let leech_dir = dir.join("leech");
    let mut leecher = libtorrent(
        "leech",
        leech_source,
        &leech_dir,
        &[
            "--peer".into(),
            seeder.addr.to_string(),
            "--timeout".into(),
            "60".into(),
        ],
    );
    let status = leecher.wait(Duration::from_secs(70));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_same_tree(data, &leech_dir.join(data.file_name().unwrap()));
}

/// Asserts two folders hold the same files with the same bytes.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    for entry in std::fs::read_dir(expected).unwrap() {
        let entry = entry.unwrap();
        let other = actual.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            assert_same_tree(&entry.path(), &other);
        } else {
            let want = std::fs::read(entry.path()).unwrap();
            let got = std::fs::read(&other)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", other.display()));
            assert!(want == got, "{} differs", other.display());
        }
    }
}
