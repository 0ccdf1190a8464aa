//! A real `opentracker` on 127.0.0.1 for the duration of a test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use piecewise::engine::metainfo::InfoHash;

pub struct Opentracker {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Opentracker {
    /// Starts opentracker serving `info_hashes` (Debian's build only serves
    /// whitelisted hashes) over HTTP and UDP on one free port.
    pub fn start(info_hashes: &[InfoHash]) -> Opentracker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let whitelist: String = info_hashes
            .iter()
            .map(|h| format!("{}\n", h.to_hex()))
            .collect();
        std::fs::write(dir.path().join("whitelist"), whitelist).expect("whitelist");
        let port = free_tcp_and_udp_port();
        // `-d` chroots there (needed as root); the whitelist path is then
        // relative to it.
        let child = Command::new("opentracker")
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-P",
                &port.to_string(),
            ])
            .arg("-w")
            .arg("whitelist")
            .arg("-d")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker is installed");
        let tracker = Opentracker {
            child,
            port,
            _dir: dir,
        };
        if let Some(probe) = info_hashes.first() {
            tracker.wait_until_ready(probe);
        }
        tracker
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}", self.port)
    }

    /// Waits until the tracker answers and has loaded its whitelist (it
    /// does so after it starts listening). The probe announces `started`
    /// (`stopped` is answered even for unlisted hashes), then leaves.
    fn wait_until_ready(&self, probe: &InfoHash) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.raw_announce(probe, "started");
            if reply.contains("interval") {
                self.raw_announce(probe, "stopped");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "opentracker did not start: {reply:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn raw_announce(&self, hash: &InfoHash, event: &str) -> String {
        let hash: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
        let request = format!(
            "GET /announce?info_hash={hash}&peer_id=probeprobeprobeprobe&port=1&uploaded=0\
             &downloaded=0&left=0&event={event} HTTP/1.0\r\n\r\n"
        );
        let mut reply = String::new();
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_string(&mut reply);
        }
        reply
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
pub fn free_tcp_and_udp_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A UDP port on 127.0.0.1 where nothing listens.
pub fn closed_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind a UDP port")
        .port()
}

/// A TCP port on 127.0.0.1 where nothing listens.
pub fn closed_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a TCP port")
        .port()
}
