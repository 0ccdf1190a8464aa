//! The HTTP server of `piecewise serve`: one file of a torrent, and the live
//! statistics, on 127.0.0.1 and, where the machine has it, [::1] on the
//! same port, so `localhost` works whichever address a player resolves.
//!
//! ```text
//!  player (mpv, VLC, souphttpsrc)
//!    GET /<token>/<name>, Range: bytes=a-b
//!      └─ respond: Host check ─► token ─► ByteRange ─► FileStream per response
//!           body: read_at(a..b in CHUNK_BYTES) ─► each read is a read head
//!                 ConsumptionRate ─► FileStream::set_playback (deadlines)
//!           client gone ─► body dropped ─► FileStream dropped ─► head closed
//!    GET /<token>/stats.json ─► Recorder::run() as JSON (the export schema)
//! ```
//!
//! Only clients on this machine can connect; the random token in the path
//! keeps out other local users and web pages that guess the port, and the
//! `Host` check keeps out pages that reach the port through DNS rebinding
//! (a rebound name arrives as `Host: attacker.example:PORT`).

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::handle::TorrentHandle;
use crate::engine::limits::{HTTP_HEADER_READ_TIMEOUT, MAX_HTTP_CONNECTIONS};
use crate::engine::stream::FileStream;
use crate::outlet::ChosenFile;
use crate::outlet::range::ByteRange;
use crate::outlet::rate::ConsumptionRate;
use crate::stats::recorder::Recorder;
use crate::stats::schema::Sample;

/// Bytes read from the stream per body frame: small enough that a frame
/// goes out as soon as its pieces are verified, large enough that reads
/// are few.
const CHUNK_BYTES: u64 = 128 * 1024;

/// Path of the statistics below the token.
pub const STATS_PATH: &str = "stats.json";

/// How often the recorder gets a sample, as in the player.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// A pause after a failed `accept` (out of file handles), so the loop does
/// not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Characters kept as they are in the file name of the URL.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// What the server serves and records.
pub struct Served {
    pub torrent: TorrentHandle,
    pub file: ChosenFile,
    /// Media bitrate in bytes/s when the user gave it.
    pub bitrate: Option<f64>,
    pub recorder: Arc<Mutex<Recorder>>,
}

/// A bound server; [`run`](Self::run) serves until the future is dropped.
pub struct HttpServer {
    listener: TcpListener,
    /// [::1] on the same port, if the machine has an IPv6 loopback.
    listener_v6: Option<TcpListener>,
    shared: Arc<Shared>,
}

struct Shared {
    served: Served,
    token: String,
    port: u16,
    /// Where the latest read of any client started and that client's
    /// rate: the stats' buffer ahead is measured from there.
    latest_read: Mutex<Option<(u64, f64)>>,
}

impl HttpServer {
    /// Binds 127.0.0.1:`port` (0: a free port) and [::1] on the same
    /// port if it can, and draws the token.
    pub async fn bind(served: Served, port: u16) -> io::Result<Self> {
        let (listener, listener_v6) = bind_loopback(port).await?;
        let port = listener.local_addr()?.port();
        let mut token = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut token);
        let token = token.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Self {
            listener,
            listener_v6,
            shared: Arc::new(Shared {
                served,
                token,
                port,
                latest_read: Mutex::new(None),
            }),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The file's URL: `http://127.0.0.1:PORT/TOKEN/NAME`.
    pub fn url(&self) -> String {
        format!(
            "{}{}",
            self.shared.base_url(),
            utf8_percent_encode(&self.shared.served.file.name, PATH_SEGMENT)
        )
    }

    /// The statistics' URL: `http://127.0.0.1:PORT/TOKEN/stats.json`.
    pub fn stats_url(&self) -> String {
        format!("{}{STATS_PATH}", self.shared.base_url())
    }

    /// Accepts clients (at most `MAX_HTTP_CONNECTIONS` at once, others are
    /// closed at once; one that sends no request head within
    /// `HTTP_HEADER_READ_TIMEOUT` is closed) and samples the statistics, until dropped.
    pub async fn run(self) {
        let permits = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
        let accept_v6 = async {
            if let Some(listener) = self.listener_v6 {
                accept(listener, self.shared.clone(), permits.clone()).await;
            }
        };
        tokio::join!(
            accept(self.listener, self.shared.clone(), permits.clone()),
            accept_v6,
            sample(&self.shared)
        );
    }
}

/// How many ports to try for a free one on both loopbacks.
const PORT_ATTEMPTS: usize = 8;

/// 127.0.0.1:`port` and, where possible, [::1] on the same port. With port
/// 0 a port taken on [::1] only is given up for another free one; a
/// machine without an IPv6 loopback gets 127.0.0.1 alone.
async fn bind_loopback(port: u16) -> io::Result<(TcpListener, Option<TcpListener>)> {
    let mut attempts = 0;
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let bound = listener.local_addr()?.port();
        match TcpListener::bind((Ipv6Addr::LOCALHOST, bound)).await {
            Ok(listener_v6) => return Ok((listener, Some(listener_v6))),
            Err(error)
                if error.kind() == io::ErrorKind::AddrInUse
                    && port == 0
                    && attempts + 1 < PORT_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(error) => {
                tracing::info!(%error, "serving on 127.0.0.1 only, not [::1]");
                return Ok((listener, None));
            }
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, permits: Arc<Semaphore>) {
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(error) => {
                tracing::warn!(%error, "cannot accept an HTTP client");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!("{MAX_HTTP_CONNECTIONS} HTTP clients connected; refusing another");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = shared.clone().respond(&request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HTTP_HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(socket), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP client gone");
            }
            drop(permit);
        });
    }
}

/// Feeds the recorder its once-a-second sample.
async fn sample(shared: &Shared) {
    let torrent = &shared.served.torrent;
    let stream = torrent.open_stream(shared.served.file.index).ok();
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        ticker.tick().await;
        let stats = torrent.stats();
        let latest_read = *lock(&shared.latest_read);
        let buffer_ahead_s = match (&stream, latest_read) {
            (Some(stream), Some((offset, rate))) if rate > 0.0 => {
                stream.verified_len_from(offset) as f64 / rate
            }
            _ => 0.0,
        };
        lock(&shared.served.recorder).sample(
            Instant::now(),
            Sample {
                download_bytes_per_s: stats.download_rate,
                upload_bytes_per_s: stats.upload_rate,
                peers: u32::try_from(stats.peers).unwrap_or(u32::MAX),
                buffer_ahead_s,
                pieces_had: stats.pieces_had,
                bytes_down: stats.bytes_downloaded,
                bytes_up: stats.bytes_uploaded,
                bytes_wasted: stats.wasted_bytes,
                ..Sample::default()
            },
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/{}/", self.port, self.token)
    }

    fn respond(self: Arc<Self>, request: &Request<Incoming>) -> Response<Body> {
        if !self.host_allowed(request) {
            return status(StatusCode::FORBIDDEN);
        }
        let Some(name) = self.name_below_token(request.uri().path()) else {
            return status(StatusCode::NOT_FOUND);
        };
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return response;
            }
        };
        if name == STATS_PATH {
            return self.stats(head);
        }
        if name != self.served.file.name {
            return status(StatusCode::NOT_FOUND);
        }
        let range = request
            .headers()
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok());
        let range = ByteRange::resolve(range, self.served.file.length);
        self.file(range, head)
    }

    /// Only `127.0.0.1:PORT`, `[::1]:PORT` and `localhost:PORT` name this
    /// server.
    fn host_allowed(&self, request: &Request<Incoming>) -> bool {
        let Some((host, port)) = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.rsplit_once(':'))
        else {
            return false;
        };
        port.parse() == Ok(self.port)
            && (host == "127.0.0.1" || host == "[::1]" || host.eq_ignore_ascii_case("localhost"))
    }

    /// The decoded rest of `/<token>/<rest>`, if the token matches.
    fn name_below_token(&self, path: &str) -> Option<String> {
        let (token, rest) = path.strip_prefix('/')?.split_once('/')?;
        if !same_token(token.as_bytes(), self.token.as_bytes()) {
            return None;
        }
        percent_decode_str(rest)
            .decode_utf8()
            .ok()
            .map(|rest| rest.into_owned())
    }

    fn stats(&self, head: bool) -> Response<Body> {
        let json = serde_json::to_vec(&lock(&self.served.recorder).run());
        let Ok(json) = json else {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let length = json.len();
        let body = if head { Bytes::new() } else { json.into() };
        let mut response = Response::new(full(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, length.into());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn file(self: Arc<Self>, range: ByteRange, head: bool) -> Response<Body> {
        let length = self.served.file.length;
        let (code, start, end) = match range {
            ByteRange::Whole => (StatusCode::OK, 0, length),
            ByteRange::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
            ByteRange::Unsatisfiable => {
                let mut response = status(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(value) = HeaderValue::try_from(format!("bytes */{length}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return response;
            }
        };
        let body = if head || start == end {
            full(Bytes::new())
        } else {
            match self.served.torrent.open_stream(self.served.file.index) {
                Ok(stream) => self.clone().body(stream, start, end),
                Err(error) => {
                    tracing::warn!(%error, "cannot open the served file");
                    return status(StatusCode::SERVICE_UNAVAILABLE);
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = code;
        let headers = response.headers_mut();
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.served.file.media_type),
        );
        headers.insert(header::CONTENT_LENGTH, (end - start).into());
        if code == StatusCode::PARTIAL_CONTENT
            && let Ok(value) = HeaderValue::try_from(format!("bytes {start}-{}/{length}", end - 1))
        {
            headers.insert(header::CONTENT_RANGE, value);
        }
        response
    }

    /// Bytes `start..end` of the file, read through `stream` as the client
    /// takes them. Dropping the body (the client is gone) drops the stream
    /// and with it the read head.
    fn body(self: Arc<Self>, stream: FileStream, start: u64, end: u64) -> Body {
        let rate = ConsumptionRate::new(self.served.bitrate, Instant::now());
        let frames = futures::stream::try_unfold(
            (self, stream, start, rate),
            move |(shared, stream, offset, mut rate)| async move {
                if offset >= end {
                    return Ok(None);
                }
                let len = (end - offset).min(CHUNK_BYTES) as usize;
                let bytes = stream
                    .read_at(offset, len)
                    .await
                    .map_err(io::Error::other)?;
                if bytes.is_empty() {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                }
                let now = Instant::now();
                if let Some(bytes_per_second) = rate.record(bytes.len() as u64, now) {
                    stream.set_playback(bytes_per_second, true);
                }
                *lock(&shared.latest_read) = Some((offset, rate.bytes_per_second(now)));
                let next = offset + bytes.len() as u64;
                Ok(Some((Frame::data(bytes), (shared, stream, next, rate))))
            },
        );
        BodyExt::boxed_unsync(StreamBody::new(frames))
    }
}

/// Compares a token without stopping at the first difference, so the time
/// taken says nothing about how much of a guess was right.
fn same_token(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn full(bytes: Bytes) -> Body {
    BodyExt::boxed_unsync(Full::new(bytes).map_err(|never: Infallible| match never {}))
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(BodyExt::boxed_unsync(
        Empty::new().map_err(|never: Infallible| match never {}),
    ));
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same_token(b"0123abcd", b"0123abcd"));
        assert!(!same_token(b"0123abce", b"0123abcd"));
        assert!(!same_token(b"0123abc", b"0123abcd"));
        assert!(!same_token(b"", b"0123abcd"));
    }
}
