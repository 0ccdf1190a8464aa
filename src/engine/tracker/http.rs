//! HTTP(S) tracker announces (BEP 3, BEP 23, BEP 7).

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, percent_encode};
use url::Url;

use super::{AnnounceEvent, AnnounceReply, AnnounceRequest, TrackerError, clamp_interval};
use crate::engine::bencode::{self, DecodeLimits, Value};
use crate::engine::compact;
use crate::engine::http_guard::{client_builder, error_chain};
use crate::engine::limits::{MAX_TRACKER_REDIRECTS, MAX_TRACKER_REPLY_BYTES};

/// Re-announce interval when a tracker names none, in seconds.
const DEFAULT_INTERVAL_SECS: i64 = 30 * 60;

/// One client for all announces: connections and TLS sessions are reused.
/// Certificates are verified as `http_guard::client_builder` says.
fn client() -> Result<&'static reqwest::Client, TrackerError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = client_builder(MAX_TRACKER_REDIRECTS)
        // Announces are minutes apart and trackers such as opentracker
        // close idle connections: a pooled one would be stale.
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| TrackerError::Http(error_chain(&e)))?;
    Ok(CLIENT.get_or_init(|| client))
}

fn announce_url(mut url: Url, request: &AnnounceRequest) -> Url {
    let mut query = format!(
        "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1&numwant={}&key={:08x}",
        percent_encode(&request.info_hash.0, NON_ALPHANUMERIC),
        percent_encode(&request.peer_id, NON_ALPHANUMERIC),
        request.port,
        request.uploaded,
        request.downloaded,
        request.left,
        request.num_want,
        request.key,
    );
    let event = match request.event {
        AnnounceEvent::None => None,
        AnnounceEvent::Started => Some("started"),
        AnnounceEvent::Completed => Some("completed"),
        AnnounceEvent::Stopped => Some("stopped"),
    };
    if let Some(event) = event {
        query.push_str("&event=");
        query.push_str(event);
    }
    // Keep what the announce URL already carries (a passkey, for one).
    if let Some(existing) = url.query().filter(|q| !q.is_empty()) {
        query = format!("{existing}&{query}");
    }
    url.set_query(Some(&query));
    url
}

pub(super) async fn announce(
    url: Url,
    request: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceReply, TrackerError> {
    let http_error = |e: reqwest::Error| {
        if e.is_timeout() {
            TrackerError::Timeout(timeout)
        } else {
            TrackerError::Http(error_chain(&e))
        }
    };
    let mut response = client()?
        .get(announce_url(url, request))
        .timeout(timeout)
        .send()
        .await
        .map_err(http_error)?;
    if response
        .content_length()
        .is_some_and(|len| len > MAX_TRACKER_REPLY_BYTES as u64)
    {
        return Err(TrackerError::ReplyTooLarge {
            limit: MAX_TRACKER_REPLY_BYTES,
        });
    }
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > MAX_TRACKER_REPLY_BYTES {
            return Err(TrackerError::ReplyTooLarge {
                limit: MAX_TRACKER_REPLY_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    match parse_reply(&body) {
        // Some trackers send their failure reason with an error status.
        Err(TrackerError::MalformedReply(_)) if !status.is_success() => {
            Err(TrackerError::Http(format!("status {status}")))
        }
        result => result,
    }
}

/// Parses a bencoded announce reply.
fn parse_reply(body: &[u8]) -> Result<AnnounceReply, TrackerError> {
    let malformed = |reason: &str| TrackerError::MalformedReply(reason.to_owned());
    let value = bencode::decode(body, DecodeLimits::with_max_bytes(MAX_TRACKER_REPLY_BYTES))
        .map_err(|e| TrackerError::MalformedReply(e.to_string()))?;
    let dict = value
        .as_dict()
        .ok_or_else(|| malformed("not a dictionary"))?;
    let text = |key: &[u8]| {
        dict.get(key)
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    if let Some(reason) = text(b"failure reason") {
        return Err(TrackerError::Failure(reason));
    }
    let int = |key: &[u8]| dict.get(key).and_then(Value::as_int);
    let count = |key: &[u8]| int(key).and_then(|n| u32::try_from(n).ok());
    let mut peers: Vec<SocketAddr> = match dict.get(b"peers") {
        Some(Value::Bytes(peers)) => compact::decode_v4(peers).collect(),
        Some(Value::List(list)) => list
            .items
            .iter()
            .filter_map(Value::as_dict)
            .filter_map(|entry| {
                let ip: IpAddr = entry.get(b"ip")?.as_str()?.parse().ok()?;
                let port = u16::try_from(entry.get(b"port")?.as_int()?).ok()?;
                Some(SocketAddr::new(ip, port))
            })
            .collect(),
        Some(_) => return Err(malformed("`peers` is neither a string nor a list")),
        None => Vec::new(),
    };
    if let Some(peers6) = dict.get(b"peers6").and_then(Value::as_bytes) {
        peers.extend(compact::decode_v6(peers6));
    }
    peers.retain(compact::is_usable);
    Ok(AnnounceReply {
        interval: clamp_interval(int(b"interval").unwrap_or(DEFAULT_INTERVAL_SECS)),
        min_interval: int(b"min interval").map(clamp_interval),
        peers,
        seeders: count(b"complete"),
        leechers: count(b"incomplete"),
        warning: text(b"warning message"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::{MAX_ANNOUNCE_INTERVAL_SECS, MIN_ANNOUNCE_INTERVAL_SECS};
    use crate::engine::metainfo::InfoHash;

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([0xab; 20]),
            peer_id: *b"-PW0001-0123456789ab",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            num_want: 50,
            key: 0xdead_beef,
        }
    }

    #[test]
    fn announce_url_percent_encodes_binary_fields_and_keeps_a_passkey() {
        let url = Url::parse("http://127.0.0.1:6969/announce?passkey=s3cr%2Bt").unwrap();
        let url = announce_url(url, &request());
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:6969/announce?passkey=s3cr%2Bt&info_hash=%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB\
             &peer_id=%2DPW0001%2D0123456789ab&port=6881&uploaded=1&downloaded=2&left=3&compact=1&numwant=50&key=deadbeef&event=started"
        );
    }

    #[test]
    fn reply_with_compact_dictionary_and_ipv6_peers_is_parsed() {
        let compact = b"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali900e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x506:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1f\x90e";
        let reply = parse_reply(compact).unwrap();
        assert_eq!(
            reply.peers,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap(),
                "[::1]:8080".parse().unwrap()
            ]
        );
        assert_eq!(reply.interval, Duration::from_secs(1800));
        assert_eq!(reply.min_interval, Some(Duration::from_secs(900)));
        assert_eq!((reply.seeders, reply.leechers), (Some(5), Some(7)));
        let dictionary = b"d8:intervali60e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eed2:ip11:example.com4:porti1eed2:ip3:::14:porti70000eeee";
        let reply = parse_reply(dictionary).unwrap();
        assert_eq!(reply.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
    }

    #[test]
    fn failure_reason_and_warning_are_surfaced() {
        assert!(matches!(
            parse_reply(b"d14:failure reason9:not founde"),
            Err(TrackerError::Failure(reason)) if reason == "not found"
        ));
        let reply = parse_reply(b"d8:intervali1e15:warning message4:slow5:peers0:e").unwrap();
        assert_eq!(reply.warning.as_deref(), Some("slow"));
        assert_eq!(
            reply.interval,
            Duration::from_secs(MIN_ANNOUNCE_INTERVAL_SECS)
        );
        let reply = parse_reply(b"d8:intervali999999999ee").unwrap();
        assert_eq!(
            reply.interval,
            Duration::from_secs(MAX_ANNOUNCE_INTERVAL_SECS)
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        for body in [&b"<html>"[..], b"le", b"d5:peersi1ee", b""] {
            assert!(
                matches!(parse_reply(body), Err(TrackerError::MalformedReply(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let oversized = vec![b'x'; MAX_TRACKER_REPLY_BYTES + 1];
        assert!(matches!(
            parse_reply(&oversized),
            Err(TrackerError::MalformedReply(reason)) if reason.contains("limit")
        ));
    }

    #[test]
    fn randomly_corrupted_replies_never_panic() {
        use rand::{Rng, SeedableRng};
        let original = b"d8:completei5e10:incompletei7e8:intervali1800e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x506:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1f\x90e";
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for _ in 0..10_000 {
            let mut bytes = original.to_vec();
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.r#gen();
            let _ = parse_reply(&bytes);
        }
    }
}
