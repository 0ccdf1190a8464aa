//! Debian's nginx as a web-seed origin on 127.0.0.1: a foreground process
//! with its own config, prefix, pid file and logs in a temporary folder,
//! killed when dropped. `start_throttled` throttles it with nginx's own
//! `limit_rate` and puts a pacing relay (`throttle.rs`) in front of it for
//! an honestly slow origin.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::opentracker::closed_tcp_port;
use super::throttle::Throttle;
use super::tls::ServerCertificate;

pub struct Nginx {
    child: Child,
    /// Where nginx itself listens.
    port: u16,
    throttle: Option<Throttle>,
    scheme: &'static str,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Serves the files below `root`; `directives` go into the `server`
    /// block as they are (`limit_rate 200k;`, `max_ranges 0;`, ...).
    pub fn start(root: &Path, directives: &str) -> Nginx {
        Self::launch(root, directives, None)
    }

    /// Like [`start`](Self::start), over TLS with `certificate`.
    pub fn start_https(root: &Path, directives: &str, certificate: &ServerCertificate) -> Nginx {
        Self::launch(root, directives, Some(certificate))
    }

    fn launch(root: &Path, directives: &str, tls: Option<&ServerCertificate>) -> Nginx {
        let (scheme, listen, tls_directives) = match tls {
            Some(certificate) => (
                "https",
                " ssl",
                format!(
                    "ssl_certificate {};\n        ssl_certificate_key {};",
                    certificate.certificate.display(),
                    certificate.key.display()
                ),
            ),
            None => ("http", "", String::new()),
        };
        let dir = tempfile::tempdir().unwrap();
        let port = closed_tcp_port();
        let prefix = dir.path().display().to_string();
        let root = root.display();
        let config = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format sent '$status $body_bytes_sent $request';
    access_log {prefix}/access.log sent;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port}{listen};
        {tls_directives}
        root {root};
        {directives}
    }}
}}
"
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx runs (package nginx-light)");
        let mut nginx = Nginx {
            child,
            port,
            throttle: None,
            scheme,
            dir,
        };
        nginx.wait_until_listening();
        nginx
    }

    /// As `start`, throttled to `bytes_per_second` twice over: nginx's
    /// `limit_rate` (as an origin would be configured) holds long responses
    /// to the rate, but lets each response's first second through at full
    /// speed; the relay in front paces every reply smoothly from the first
    /// byte, so short ranges are slow too. `directives` must not set
    /// `limit_rate` themselves.
    pub fn start_throttled(root: &Path, directives: &str, bytes_per_second: f64) -> Nginx {
        // nginx takes whole bytes; a zero would turn throttling off.
        let limit_rate = (bytes_per_second.ceil() as u64).max(1);
        let mut nginx = Self::start(
            root,
            &format!("limit_rate {limit_rate};\n        {directives}"),
        );
        nginx.throttle = Some(Throttle::start(nginx.port, bytes_per_second));
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nginx exited with {status}: {}", self.error_log());
            }
            assert!(Instant::now() < deadline, "nginx does not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT/` (or `https://`) followed by `path`
    /// (through the relay when throttled).
    pub fn url(&self, path: &str) -> String {
        let port = self.throttle.as_ref().map_or(self.port, |t| t.port);
        format!("{}://127.0.0.1:{port}/{path}", self.scheme)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Requests served: (status, body bytes sent, request line).
    pub fn requests(&self) -> Vec<(u16, u64, String)> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ' ');
                let status = fields.next()?.parse().ok()?;
                let bytes = fields.next()?.parse().ok()?;
                Some((status, bytes, fields.next()?.to_owned()))
            })
            .collect()
    }

    /// Body bytes sent over every request.
    pub fn bytes_sent(&self) -> u64 {
        self.requests().iter().map(|(_, bytes, _)| bytes).sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
