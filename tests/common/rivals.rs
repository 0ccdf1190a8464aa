//! Today's streaming clients, driven the way a player drives them, for the
//! rival rows of the streaming benchmark: a driver process per client
//! speaks one line protocol on stdin and stdout.
//!
//! - driver → `hello` once loaded; then `start` adds the torrent (the
//!   benchmark's clock starts there);
//! - `ID read OFFSET LEN` → `ID ok` once those bytes were read from the
//!   client's stream;
//! - `ID have OFFSET LEN` → `ID yes` or `ID no`: are the pieces verified;
//! - `ID complete` → `ID ok` once the whole file is verified;
//! - `playback BYTES_PER_SECOND` (the player's rate) and `seek` (forget the
//!   read heads) have no answer;
//! - driver → `peer` when its first peer connects.
//!
//! Drivers: tests/peers/lt_stream.py (libtorrent with piece deadlines) and
//! tests/peers/node_stream.mjs (torrent-stream, the engine of peerflix, and
//! WebTorrent), whose npm packages are installed at pinned versions into
//! target/bench/rivals when the benchmark first needs them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::sync::oneshot;

use super::realtime::MediaSource;

/// torrent-stream as peerflix 0.39.0 (its latest) depends on it (`^1.0.1`).
pub const TORRENT_STREAM_VERSION: &str = "1.2.1";
/// The last WebTorrent for Node 20 (3.x needs Node 22).
pub const WEBTORRENT_VERSION: &str = "2.8.5";
/// WebTorrent 2.8.5 hands hex strings to `arr2hex`, which uint8-util 2.3
/// rejects (it throws on every torrent added): the last 2.2 is pinned.
const UINT8_UTIL_VERSION: &str = "2.2.6";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rival {
    /// python3-libtorrent: sequential download, head and tail first, piece
    /// deadlines on the playhead's read-ahead window, cleared on seek.
    LibtorrentDeadlines,
    /// torrent-stream's file streams, as peerflix serves a player.
    Peerflix,
    /// WebTorrent's file streams, as its HTTP server serves a player.
    WebTorrent,
}

impl Rival {
    pub const ALL: [Rival; 3] = [
        Rival::LibtorrentDeadlines,
        Rival::Peerflix,
        Rival::WebTorrent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rival::LibtorrentDeadlines => "libtorrent + deadlines",
            Rival::Peerflix => "peerflix",
            Rival::WebTorrent => "webtorrent",
        }
    }

    /// The driver for `torrent`, downloading into `save_dir`, or why this
    /// client cannot run here.
    pub fn command(self, torrent: &Path, save_dir: &Path) -> anyhow::Result<Command> {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
        let mut command = match self {
            Rival::LibtorrentDeadlines => {
                let mut command = Command::new("/usr/bin/python3");
                // It imports lt_peer.py: no __pycache__ in the source tree.
                command
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .arg(peers.join("lt_stream.py"));
                command
            }
            Rival::Peerflix | Rival::WebTorrent => {
                let modules = node_modules().map_err(|e| anyhow::anyhow!("{e}"))?;
                let library = if self == Rival::Peerflix {
                    "torrent-stream"
                } else {
                    "webtorrent"
                };
                let mut command = Command::new("node");
                command
                    .arg(peers.join("node_stream.mjs"))
                    .arg(library)
                    .arg(modules);
                command
            }
        };
        command.arg(torrent).arg(save_dir);
        Ok(command)
    }
}

/// target/bench/rivals with both npm packages at their pinned versions,
/// installed on first use; the reason if node or npm cannot provide them.
fn node_modules() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED.get_or_init(install_node_modules).clone()
}

fn install_node_modules() -> Result<PathBuf, String> {
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/rivals");
    let packages = [
        ("torrent-stream", TORRENT_STREAM_VERSION),
        ("webtorrent", WEBTORRENT_VERSION),
        ("uint8-util", UINT8_UTIL_VERSION),
    ];
    let installed = |(name, version): &(&str, &str)| {
        let manifest = prefix.join("node_modules").join(name).join("package.json");
        std::fs::read_to_string(manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|json| json["version"] == *version)
    };
    if packages.iter().all(installed) {
        return Ok(prefix);
    }
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!(
                "`{tool} --version` does not run: {tool} is not installed"
            ));
        }
    }
    let manifest = serde_json::json!({
        "name": "piecewise-bench-rivals",
        "private": true,
        "dependencies": {
            "torrent-stream": TORRENT_STREAM_VERSION,
            "webtorrent": WEBTORRENT_VERSION,
        },
        "overrides": { "uint8-util": UINT8_UTIL_VERSION },
    });
    std::fs::create_dir_all(&prefix)
        .and_then(|()| std::fs::write(prefix.join("package.json"), manifest.to_string()))
        .map_err(|e| format!("{}: {e}", prefix.display()))?;
    // No install scripts: they would fetch native WebRTC and uTP builds from
    // GitHub; the drivers use neither.
    let output = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .args([
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--omit=optional",
        ])
        .output()
        .map_err(|e| format!("npm install: {e}"))?;
    if !output.status.success() || !packages.iter().all(installed) {
        // npm's error lines, without its warnings.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error: Vec<&str> = stderr
            .lines()
            .filter_map(|line| line.strip_prefix("npm error "))
            .take(3)
            .collect();
        let error = error.join(" / ");
        return Err(format!(
            "npm install into {} failed: {error}",
            prefix.display()
        ));
    }
    Ok(prefix)
}

/// Requests waiting for their answer; `None` once the driver has exited.
type Replies = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<String>>>>>;

/// A running driver process, killed when dropped.
pub struct Driver {
    child: Child,
    stdin: Mutex<ChildStdin>,
    replies: Replies,
    next_id: AtomicU64,
    first_peer: Arc<OnceLock<Instant>>,
}

impl Driver {
    /// Starts the driver and waits until it has loaded its client.
    pub fn spawn(mut command: Command, name: &'static str) -> anyhow::Result<Driver> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("{name}: cannot start {command:?}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("{name}: no pipes");
        };
        let mut lines = BufReader::new(stdout).lines();
        match lines.next() {
            Some(Ok(line)) if line == "hello" => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{name}: the driver did not start: {other:?}");
            }
        }
        let replies: Replies = Arc::new(Mutex::new(Some(HashMap::new())));
        let first_peer = Arc::new(OnceLock::new());
        let (pending, peer) = (replies.clone(), first_peer.clone());
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line == "peer" {
                    let _ = peer.set(Instant::now());
                    continue;
                }
                let reply = line
                    .split_once(' ')
                    .and_then(|(id, rest)| Some((id.parse::<u64>().ok()?, rest)));
                match reply {
                    Some((id, rest)) => {
                        let sender = pending.lock().unwrap().as_mut().and_then(|p| p.remove(&id));
                        if let Some(sender) = sender {
                            let _ = sender.send(rest.to_owned());
                        }
                    }
                    None => eprintln!("{name}: {line}"),
                }
            }
            // The driver is gone: requests still waiting fail, later ones too.
            pending.lock().unwrap().take();
        });
        Ok(Driver {
            child,
            stdin: Mutex::new(stdin),
            replies,
            next_id: AtomicU64::new(0),
            first_peer,
        })
    }

    fn send(&self, line: &str) {
        let mut stdin = self.stdin.lock().unwrap();
        let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
    }

    /// Adds the torrent; returns when it was asked to.
    pub fn start(&self) -> Instant {
        let started = Instant::now();
        self.send("start");
        started
    }

    async fn request(&self, command: &str) -> anyhow::Result<String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, reply) = oneshot::channel();
        match self.replies.lock().unwrap().as_mut() {
            Some(pending) => pending.insert(id, sender),
            None => bail!("the driver has exited"),
        };
        self.send(&format!("{id} {command}"));
        reply.await.context("the driver exited")
    }

    /// Returns once the whole file is verified.
    pub async fn complete(&self) -> anyhow::Result<()> {
        self.request("complete").await.map(drop)
    }

    /// Forgets the read heads, as a player's seek does.
    pub fn seek(&self) {
        self.send("seek");
    }

    /// When the first peer connected.
    pub fn first_peer(&self) -> Option<Instant> {
        self.first_peer.get().copied()
    }
}

impl MediaSource for Driver {
    async fn read(&self, offset: u64, len: usize) -> anyhow::Result<()> {
        match self
            .request(&format!("read {offset} {len}"))
            .await?
            .as_str()
        {
            "ok" => Ok(()),
            other => bail!("read {offset} {len}: {other}"),
        }
    }

    async fn is_available(&self, offset: u64, len: usize) -> bool {
        let reply = self.request(&format!("have {offset} {len}")).await;
        reply.is_ok_and(|r| r == "yes")
    }

    fn set_playback(&self, bytes_per_second: f64) {
        self.send(&format!("playback {bytes_per_second}"));
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
