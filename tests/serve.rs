//! `piecewise serve`: a torrent's video over HTTP on 127.0.0.1, from a
//! libtorrent seeder, read with raw HTTP requests and by GStreamer's
//! `souphttpsrc`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::peers::{create_torrent, create_torrent_with_web_seeds, write_data};
use common::playbin_plays_to_eos;
use common::swarm::{PIECE, Swarm};
use piecewise::engine::limits::{HTTP_HEADER_READ_TIMEOUT, MAX_HTTP_CONNECTIONS};
use piecewise::player::sample::SampleFormat;
use piecewise::stats::schema::Run;

/// Longest a request or a playback may take before the test calls it a hang.
const TIMEOUT: Duration = Duration::from_secs(90);

/// `piecewise serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
    addr: SocketAddr,
    /// `/<token>/`
    base_path: String,
}

impl Server {
    /// `serve` of `torrent` into `dir/download`, logging into `dir`.
    fn start(dir: &Path, torrent: &Path, peers: &[String]) -> Server {
        let download_dir = dir.join("download");
        Self::start_with(dir, torrent, peers, |command| {
            command.arg("--download-dir").arg(download_dir);
        })
    }

    /// `serve` of `torrent` as `configure` sets it up, logging into `dir`.
    fn start_with(
        dir: &Path,
        torrent: &Path,
        peers: &[String],
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
        command.args(["serve", "--listen-ip", "127.0.0.1", "--no-dht"]);
        configure(&mut command);
        for peer in peers {
            command.arg("--peer").arg(peer);
        }
        let mut child = command
            .arg(torrent)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        let url = url.trim().to_owned();
        let rest = url.strip_prefix("http://").expect("an http URL");
        let (authority, path) = rest.split_once('/').unwrap();
        let addr: SocketAddr = authority.parse().expect("127.0.0.1:PORT");
        assert!(addr.ip().is_loopback(), "{url}");
        let (token, _) = path.split_once('/').unwrap();
        assert!(token.len() >= 32, "token {token:?} is guessable");
        Server {
            child,
            base_path: format!("/{token}/"),
            url,
            addr,
        }
    }

    fn file_path(&self) -> String {
        self.url
            .split_at(self.url.find(&self.base_path).unwrap())
            .1
            .to_owned()
    }

    /// Sends `method path` with `headers` (a `Host` naming this server
    /// unless one is given) and returns the response.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request_to(self.addr, method, path, headers)
    }

    /// [`request`](Self::request) over a connection to `addr`.
    fn request_to(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }

    fn get_range(&self, range: &str) -> Response {
        self.request("GET", &self.file_path(), &[("Range", range)])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Response {
            status: status.parse().unwrap(),
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

fn serve_swarm(format: SampleFormat) -> (Swarm, Server) {
    let swarm = Swarm::start(format, 0);
    let server = Server::start(
        swarm.dir.path(),
        &swarm.torrent,
        &[swarm.seeder.addr.to_string()],
    );
    (swarm, server)
}

#[test]
fn range_requests_return_the_bytes_of_the_source_file() {
    let (swarm, server) = serve_swarm(SampleFormat::Mp4H264AacIndexAtEnd);
    let source = std::fs::read(&swarm.video).unwrap();
    let len = source.len();
    let total = len.to_string();

    let head = server.request("HEAD", &server.file_path(), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(total.as_str()));
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert!(head.body.is_empty());

    let middle = len / 2;
    let cases = [
        (format!("bytes=0-{}", PIECE + 99), 0, PIECE as usize + 100),
        (
            format!("bytes={middle}-{}", middle + 70_000),
            middle,
            70_001,
        ),
        ("bytes=-1000".to_owned(), len - 1000, 1000),
        (format!("bytes={}-", len - 5000), len - 5000, 5000),
        (format!("bytes={}-{}", len - 10, len + 100), len - 10, 10),
    ];
    for (range, start, count) in cases {
        let response = server.get_range(&range);
        assert_eq!(response.status, 206, "{range}");
        let expected = format!("bytes {start}-{}/{len}", start + count - 1);
        assert_eq!(response.header("content-range"), Some(expected.as_str()));
        assert_eq!(response.body.len(), count, "{range}");
        assert!(
            response.body == source[start..start + count],
            "{range}: bytes differ from the source"
        );
    }

    let whole = server.request("GET", &server.file_path(), &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-length"), Some(total.as_str()));
    assert!(
        whole.body == source,
        "the whole file differs from the source"
    );

    let past_the_end = server.get_range(&format!("bytes={len}-"));
    assert_eq!(past_the_end.status, 416);
    let expected = format!("bytes */{len}");
    assert_eq!(
        past_the_end.header("content-range"),
        Some(expected.as_str())
    );
}

#[test]
fn requests_without_the_token_or_from_a_foreign_host_are_refused() {
    let (_swarm, server) = serve_swarm(SampleFormat::WebmVp9Opus);
    let file = server.file_path();
    let name = file.rsplit('/').next().unwrap();
    let wrong_token = format!("/{}/{name}", "0".repeat(32));
    for path in ["/", &format!("/{name}"), &wrong_token, "/stats.json"] {
        assert_eq!(server.request("GET", path, &[]).status, 404, "{path}");
    }
    let port = server.addr.port();
    // DNS rebinding: a page of attacker.example resolved to 127.0.0.1.
    let foreign = format!("attacker.example:{port}");
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1));
    for host in [foreign.as_str(), other_port.as_str(), "127.0.0.1"] {
        let response = server.request("HEAD", &file, &[("Host", host)]);
        assert_eq!(response.status, 403, "Host: {host}");
    }
    let localhost = format!("localhost:{port}");
    let allowed = server.request("HEAD", &file, &[("Host", &localhost)]);
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("content-type"), Some("video/webm"));
    assert_eq!(server.request("POST", &file, &[]).status, 405);
}

#[test]
fn stats_json_beside_the_file_follows_the_export_schema() {
    let (swarm, server) = serve_swarm(SampleFormat::WebmVp9Opus);
    let len = std::fs::metadata(&swarm.video).unwrap().len();
    assert_eq!(server.get_range("bytes=-100").status, 206);
    // The sampler records once a second: wait for a sample after the read.
    std::thread::sleep(Duration::from_millis(1500));
    let response = server.request("GET", &format!("{}stats.json", server.base_path), &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let run: Run = serde_json::from_slice(&response.body).expect("a run in the export schema");
    let torrent = run.torrent.expect("the served torrent");
    assert_eq!(torrent.file_size, len);
    assert_eq!(torrent.file, "sample.webm");
    assert!(run.summary.bytes_down > 0, "{:?}", run.summary);
    assert!(!run.series.is_empty());
}

#[test]
fn serve_without_a_download_dir_keeps_the_data_in_the_cache_not_the_working_folder() {
    let swarm = Swarm::start(SampleFormat::Mp4H264Aac, 0);
    let folders = swarm.working_and_cache_folders();
    let server = Server::start_with(
        swarm.dir.path(),
        &swarm.torrent,
        &[swarm.seeder.addr.to_string()],
        |command| {
            command
                .current_dir(&folders.working)
                .env("XDG_CACHE_HOME", &folders.cache);
        },
    );
    let body = server.request("GET", &server.file_path(), &[]).body;
    assert!(body == std::fs::read(&swarm.video).unwrap());
    swarm.assert_kept_in_cache_only(&folders);
}

#[test]
fn souphttpsrc_plays_the_served_url_to_the_end() {
    let (_swarm, server) = serve_swarm(SampleFormat::Mp4H264AacIndexAtEnd);
    let started = Instant::now();
    playbin_plays_to_eos(&mut Command::new("gst-launch-1.0"), &server.url, TIMEOUT);
    eprintln!("played to EOS in {:?}", started.elapsed());
}

/// `serve` of a small torrent nobody seeds: enough for the connection
/// tests, which ask only for the statistics.
fn serve_without_peers(dir: &Path) -> Server {
    let data = dir.join("seed/clip.mp4");
    write_data(&data, 100_000, 7);
    let torrent = dir.join("clip.torrent");
    create_torrent(&data, &torrent, PIECE, &[]);
    Server::start(dir, &torrent, &[])
}

#[test]
fn serve_says_which_web_seed_it_dropped_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("origin/clip.mp4");
    write_data(&data, 300_000, 7);
    // `max_ranges 0`: nginx answers every range request with the whole file.
    let nginx = Nginx::start(&dir.path().join("origin"), "max_ranges 0;");
    let torrent = dir.path().join("clip.torrent");
    let url = nginx.url("clip.mp4");
    create_torrent_with_web_seeds(&data, &torrent, PIECE, &[], std::slice::from_ref(&url));
    let download_dir = dir.path().join("download");
    let server = Server::start_with(dir.path(), &torrent, &[], |command| {
        command
            .args(["--origin", "always", "--download-dir"])
            .arg(download_dir)
            // The verb's own lines only, not the engine's log.
            .env("RUST_LOG", "off");
    });
    // A player's request, left waiting: demand for the origin.
    let mut player = TcpStream::connect(server.addr).unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.file_path(),
        server.addr
    );
    player.write_all(request.as_bytes()).unwrap();
    let expected = format!(
        "dropped web seed {url}: the server ignored the byte range and sent the whole file"
    );
    let log = dir.path().join("serve.log");
    let deadline = Instant::now() + TIMEOUT;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .any(|line| line == expected)
    {
        assert!(
            Instant::now() < deadline,
            "no {expected:?} in\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn localhost_is_served_on_127_0_0_1_and_on_the_ipv6_loopback_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_without_peers(dir.path());
    let stats = format!("{}stats.json", server.base_path);
    let port = server.addr.port();
    let localhost = format!("localhost:{port}");
    let host = [("Host", localhost.as_str())];
    assert_eq!(server.request("GET", &stats, &host).status, 200);
    if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("skipping [::1]: this machine has no IPv6 loopback");
        return;
    }
    let ipv6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    for name in [localhost.clone(), format!("[::1]:{port}")] {
        let response = server.request_to(ipv6, "GET", &stats, &[("Host", &name)]);
        assert_eq!(response.status, 200, "[::1] with Host: {name}");
    }
    // Whichever addresses `localhost` resolves to here, each one answers.
    for addr in ("localhost", port).to_socket_addrs().unwrap() {
        assert_eq!(
            server.request_to(addr, "GET", &stats, &host).status,
            200,
            "{addr}"
        );
    }
}

#[test]
fn http_clients_past_the_limit_are_refused_until_one_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_without_peers(dir.path());
    let stats = format!("{}stats.json", server.base_path);
    let mut idle = take_every_slot(&server);
    let mut refused = TcpStream::connect(server.addr).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = refused
        .write_all(format!("GET {stats} HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).as_bytes());
    let mut byte = [0u8; 1];
    assert!(
        matches!(refused.read(&mut byte), Ok(0) | Err(_)),
        "a client past the limit was served"
    );
    idle.pop();
    assert!(
        stats_served_within(&server, Duration::from_secs(10)),
        "no slot freed after a client left"
    );
}

/// Opens every connection slot of `server` without sending a request.
fn take_every_slot(server: &Server) -> Vec<TcpStream> {
    let idle = (0..MAX_HTTP_CONNECTIONS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Every slot is taken once the server has accepted them all.
    std::thread::sleep(Duration::from_millis(500));
    idle
}

/// Whether a request for the statistics gets a 200 within `patience`,
/// retrying while slots are full.
fn stats_served_within(server: &Server, patience: Duration) -> bool {
    let stats = format!("{}stats.json", server.base_path);
    let deadline = Instant::now() + patience;
    loop {
        let mut socket = TcpStream::connect(server.addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let request = format!(
            "GET {stats} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        );
        let mut raw = Vec::new();
        if socket.write_all(request.as_bytes()).is_ok()
            && socket.read_to_end(&mut raw).is_ok()
            && raw.starts_with(b"HTTP/1.1 200")
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn idle_http_clients_are_closed_after_the_header_read_timeout_and_free_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_without_peers(dir.path());
    let opened = Instant::now();
    let mut idle = take_every_slot(&server);
    // Sixteen silent clients: nobody else is served until the timeout.
    assert!(!stats_served_within(&server, Duration::ZERO));
    assert!(
        stats_served_within(&server, HTTP_HEADER_READ_TIMEOUT + Duration::from_secs(20)),
        "idle clients still hold every slot"
    );
    assert!(opened.elapsed() >= HTTP_HEADER_READ_TIMEOUT);
    // The server closed them.
    for socket in &mut idle {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert!(matches!(socket.read(&mut byte), Ok(0) | Err(_)));
    }
}
