//! Tracker clients and the announcer against a real `opentracker` on
//! 127.0.0.1, over HTTP and UDP.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::opentracker::{Opentracker, closed_tcp_port, closed_udp_port};
use piecewise::engine::metainfo::InfoHash;
use piecewise::engine::tracker::{
    AnnounceEvent, AnnounceReply, AnnounceRequest, AnnounceTarget, Announcer, TrackerError,
    TrackerEvent, TrackerTimeouts, TransferStats, announce,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

const HASH: InfoHash = InfoHash([0x5a; 20]);

fn request(peer_id: u8, port: u16, event: AnnounceEvent) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: [peer_id; 20],
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event,
        num_want: 50,
        key: u32::from(peer_id),
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn quick() -> TrackerTimeouts {
    TrackerTimeouts {
        http: Duration::from_secs(5),
        udp_first: Duration::from_secs(2),
        udp_attempts: 2,
    }
}

/// Peer `a`'s first announce (`started`) to `url`.
async fn first_announce(url: &str) -> Result<AnnounceReply, TrackerError> {
    announce(url, &request(b'a', 7001, AnnounceEvent::Started), &quick()).await
}

async fn two_peers_find_each_other(url: &str) {
    let first = first_announce(url).await.unwrap();
    assert!(!first.peers.contains(&local(7002)));
    let second = announce(url, &request(b'b', 7002, AnnounceEvent::Started), &quick())
        .await
        .unwrap();
    assert!(second.peers.contains(&local(7001)), "{:?}", second.peers);
    assert_eq!(second.leechers, Some(2));
    let again = announce(url, &request(b'a', 7001, AnnounceEvent::None), &quick())
        .await
        .unwrap();
    assert!(again.peers.contains(&local(7002)), "{:?}", again.peers);
    assert!(again.interval >= Duration::from_secs(60));
}

#[tokio::test]
async fn http_announces_let_two_peers_find_each_other() {
    let tracker = Opentracker::start(&[HASH]);
    two_peers_find_each_other(&tracker.http_url()).await;
}

#[tokio::test]
async fn udp_announces_let_two_peers_find_each_other() {
    let tracker = Opentracker::start(&[HASH]);
    two_peers_find_each_other(&tracker.udp_url()).await;
}

#[tokio::test]
async fn tracker_failure_reason_is_surfaced() {
    let tracker = Opentracker::start(&[InfoHash([1; 20])]);
    let result = first_announce(&tracker.http_url()).await;
    assert!(
        matches!(&result, Err(TrackerError::Failure(reason)) if reason.contains("not authorized")),
        "{result:?}"
    );
}

#[tokio::test]
async fn dead_udp_tracker_fails_fast_and_unsupported_schemes_are_refused() {
    let dead = format!("udp://127.0.0.1:{}", closed_udp_port());
    let started = std::time::Instant::now();
    let result = first_announce(&dead).await;
    assert!(matches!(result, Err(TrackerError::Io(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let result = first_announce("ftp://127.0.0.1/announce").await;
    assert!(
        matches!(result, Err(TrackerError::UnsupportedUrl(_))),
        "{result:?}"
    );
}

/// Serves one HTTP reply with a body of `len` bytes, with or without a
/// Content-Length header.
async fn serve_oversized_reply(len: usize, content_length: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // Read the whole request first, or the client sees a reset.
        if read_request_head(&mut stream).await.is_none() {
            return;
        }
        let header = if content_length {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
        } else {
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
        };
        let _ = stream.write_all(header.as_bytes()).await;
        let _ = stream.write_all(&vec![b'x'; len]).await;
    });
    url
}

#[tokio::test]
async fn http_reply_larger_than_the_limit_is_refused() {
    use piecewise::engine::limits::MAX_TRACKER_REPLY_BYTES;
    for content_length in [true, false] {
        let url = serve_oversized_reply(MAX_TRACKER_REPLY_BYTES + 1, content_length).await;
        let result = first_announce(&url).await;
        assert!(
            matches!(result, Err(TrackerError::ReplyTooLarge { .. })),
            "content length {content_length}: {result:?}"
        );
    }
    // At the limit the body is read and judged as bencode.
    let url = serve_oversized_reply(MAX_TRACKER_REPLY_BYTES, false).await;
    let result = first_announce(&url).await;
    assert!(
        matches!(result, Err(TrackerError::MalformedReply(_))),
        "{result:?}"
    );
}

/// Reads an HTTP request up to the blank line after its headers; `None`
/// when the client leaves first.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    Some(String::from_utf8_lossy(&request).into_owned())
}

/// An HTTP server where `/hop/N` redirects to `/hop/N-1` and `/hop/0`
/// answers like a tracker.
async fn serve_redirect_chain() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(request) = read_request_head(&mut stream).await else {
                    return;
                };
                let hop: u32 = request
                    .split("/hop/")
                    .nth(1)
                    .and_then(|rest| rest.split(['?', ' ']).next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let reply = if hop == 0 {
                    let body = "d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\x01e";
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: /hop/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        hop - 1
                    )
                };
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn redirects_beyond_the_limit_are_not_followed() {
    use piecewise::engine::limits::MAX_TRACKER_REDIRECTS;
    let base = serve_redirect_chain().await;
    let at_limit = format!("{base}/hop/{MAX_TRACKER_REDIRECTS}");
    let reply = first_announce(&at_limit).await.unwrap();
    assert_eq!(reply.peers.len(), 1);
    let over = format!("{base}/hop/{}", MAX_TRACKER_REDIRECTS + 1);
    let result = first_announce(&over).await;
    assert!(
        matches!(&result, Err(TrackerError::Http(message)) if message.contains("too many redirects")),
        "{result:?}"
    );
}

async fn next_reply(events: &mut mpsc::Receiver<TrackerEvent>) -> Vec<TrackerEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("announcer running");
        let done = matches!(event, TrackerEvent::Reply { .. });
        seen.push(event);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn announcer_works_through_tiers_reports_peers_then_completes_and_stops() {
    let tracker = Opentracker::start(&[HASH]);
    let http = tracker.http_url();
    let dead = format!("udp://127.0.0.1:{}", closed_udp_port());
    let dead_in_tier_2 = format!("http://127.0.0.1:{}/announce", closed_tcp_port());
    // Another peer is already in the swarm.
    announce(
        &http,
        &request(b'b', 7002, AnnounceEvent::Started),
        &quick(),
    )
    .await
    .unwrap();

    let (stats_tx, stats_rx) = watch::channel(TransferStats {
        uploaded: 0,
        downloaded: 0,
        left: 1000,
    });
    let (events_tx, mut events) = mpsc::channel(16);
    let announcer = Announcer::spawn(
        AnnounceTarget {
            info_hash: HASH,
            peer_id: [b'a'; 20],
            port: 7001,
            tiers: vec![
                vec![dead.clone()],
                vec![dead_in_tier_2.clone(), http.clone()],
            ],
            timeouts: quick(),
        },
        stats_rx,
        events_tx,
    );

    let started = next_reply(&mut events).await;
    assert!(
        matches!(&started[0], TrackerEvent::Error { url, .. } if *url == dead),
        "{started:?}"
    );
    assert!(
        started
            .iter()
            .any(|e| matches!(e, TrackerEvent::Peers(peers) if peers.contains(&local(7002)))),
        "{started:?}"
    );
    assert!(
        matches!(started.last(), Some(TrackerEvent::Reply { url, interval, .. })
            if *url == http && *interval >= Duration::from_secs(60)),
        "{started:?}"
    );
    let view = announce(
        &http,
        &request(b'c', 7003, AnnounceEvent::Started),
        &quick(),
    )
    .await
    .unwrap();
    assert!(
        view.peers.contains(&local(7001)),
        "the announcer's started reached the tracker"
    );
    assert_eq!(view.seeders, Some(0));

    // Finishing the download sends `completed` at once.
    stats_tx.send_replace(TransferStats {
        uploaded: 0,
        downloaded: 1000,
        left: 0,
    });
    let completed = next_reply(&mut events).await;
    // Tier 1 is tried again, but in tier 2 the tracker that answered was
    // moved first (BEP 12), so its dead neighbour is not tried any more.
    let failed: Vec<&str> = completed
        .iter()
        .filter_map(|e| match e {
            TrackerEvent::Error { url, .. } => Some(url.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [dead.as_str()], "{completed:?}");
    let view = announce(&http, &request(b'c', 7003, AnnounceEvent::None), &quick())
        .await
        .unwrap();
    assert_eq!(
        view.seeders,
        Some(1),
        "the tracker counts us as a seeder now"
    );

    announcer.stop().await;
    let view = announce(&http, &request(b'c', 7003, AnnounceEvent::None), &quick())
        .await
        .unwrap();
    assert!(
        !view.peers.contains(&local(7001)),
        "`stopped` removed us: {:?}",
        view.peers
    );
}
