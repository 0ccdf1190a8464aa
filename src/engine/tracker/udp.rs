//! UDP tracker announces (BEP 15): connect, then announce, each retried
//! with the BEP's doubling timeout, bounded by `TrackerTimeouts`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use url::Url;

use super::{
    AnnounceEvent, AnnounceReply, AnnounceRequest, TrackerError, TrackerTimeouts, clamp_interval,
};
use crate::engine::compact;

const PROTOCOL_ID: u64 = 0x417_2710_1980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_ERROR: u32 = 3;

/// Largest datagram we read; a UDP payload cannot be bigger.
const MAX_DATAGRAM_BYTES: usize = 65_536;

pub(super) async fn announce(
    url: &Url,
    request: &AnnounceRequest,
    timeouts: &TrackerTimeouts,
) -> Result<AnnounceReply, TrackerError> {
    let host = url
        .host_str()
        .ok_or_else(|| TrackerError::UnsupportedUrl(url.to_string()))?;
    let port = url
        .port()
        .ok_or_else(|| TrackerError::UnsupportedUrl(url.to_string()))?;
    // url keeps the brackets of an IPv6 host; lookup_host wants them too.
    let target = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await?
        .next()
        .ok_or_else(|| TrackerError::UnsupportedUrl(url.to_string()))?;
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    // A connected socket only hears from the tracker, and a closed port
    // fails fast through ICMP instead of a timeout.
    socket.connect(target).await?;

    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES];
    let connect_tid: u32 = rand::random();
    let mut connect = Vec::with_capacity(16);
    connect.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    connect.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    connect.extend_from_slice(&connect_tid.to_be_bytes());
    let reply = exchange(
        &socket,
        &connect,
        connect_tid,
        ACTION_CONNECT,
        timeouts,
        &mut buffer,
    )
    .await?;
    let connection_id = reply
        .get(..8)
        .ok_or_else(|| TrackerError::MalformedReply("short connect reply".into()))?;

    let announce_tid: u32 = rand::random();
    let event: u32 = match request.event {
        AnnounceEvent::None => 0,
        AnnounceEvent::Completed => 1,
        AnnounceEvent::Started => 2,
        AnnounceEvent::Stopped => 3,
    };
    let mut packet = Vec::with_capacity(98);
    packet.extend_from_slice(connection_id);
    packet.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    packet.extend_from_slice(&announce_tid.to_be_bytes());
    packet.extend_from_slice(&request.info_hash.0);
    packet.extend_from_slice(&request.peer_id);
    packet.extend_from_slice(&request.downloaded.to_be_bytes());
    packet.extend_from_slice(&request.left.to_be_bytes());
    packet.extend_from_slice(&request.uploaded.to_be_bytes());
    packet.extend_from_slice(&event.to_be_bytes());
    packet.extend_from_slice(&0u32.to_be_bytes()); // IP: the sender's
    packet.extend_from_slice(&request.key.to_be_bytes());
    packet.extend_from_slice(&request.num_want.to_be_bytes());
    packet.extend_from_slice(&request.port.to_be_bytes());
    let body = exchange(
        &socket,
        &packet,
        announce_tid,
        ACTION_ANNOUNCE,
        timeouts,
        &mut buffer,
    )
    .await?;
    let field = |at: usize| {
        body.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| TrackerError::MalformedReply("short announce reply".into()))
    };
    let interval = field(0)?;
    let leechers = field(4)?;
    let seeders = field(8)?;
    let peer_bytes = body.get(12..).unwrap_or_default();
    // Peers come in the address family we asked over (BEP 15, IPv6 note).
    let peers = if target.is_ipv4() {
        compact::decode_v4(peer_bytes)
            .filter(compact::is_usable)
            .collect()
    } else {
        compact::decode_v6(peer_bytes)
            .filter(compact::is_usable)
            .collect()
    };
    Ok(AnnounceReply {
        interval: clamp_interval(i64::from(interval)),
        min_interval: None,
        peers,
        seeders: Some(seeders),
        leechers: Some(leechers),
        warning: None,
    })
}

/// Sends `packet` until a reply with our transaction id arrives, waiting
/// `udp_first · 2^n` before retry n (BEP 15). Returns the reply after its
/// 8-byte action and transaction id header.
async fn exchange<'b>(
    socket: &UdpSocket,
    packet: &[u8],
    transaction_id: u32,
    action: u32,
    timeouts: &TrackerTimeouts,
    buffer: &'b mut [u8],
) -> Result<&'b [u8], TrackerError> {
    let mut wait = timeouts.udp_first;
    let mut total = Duration::ZERO;
    for _ in 0..timeouts.udp_attempts.max(1) {
        socket.send(packet).await?;
        let deadline = tokio::time::Instant::now() + wait;
        total += wait;
        loop {
            let received = match tokio::time::timeout_at(deadline, socket.recv(buffer)).await {
                Ok(result) => result?,
                Err(_) => break,
            };
            let Some(reply) = buffer.get(..received) else {
                break;
            };
            let (Some(got_action), Some(got_tid)) = (reply.get(0..4), reply.get(4..8)) else {
                continue;
            };
            if got_tid != transaction_id.to_be_bytes() {
                // A late reply to an earlier attempt, or noise.
                continue;
            }
            let rest = reply.get(8..).unwrap_or_default();
            if got_action == ACTION_ERROR.to_be_bytes() {
                return Err(TrackerError::Failure(
                    String::from_utf8_lossy(rest).into_owned(),
                ));
            }
            if got_action != action.to_be_bytes() {
                return Err(TrackerError::MalformedReply(format!(
                    "unexpected action in reply to action {action}"
                )));
            }
            let length = received - 8;
            return Ok(&buffer[8..8 + length]);
        }
        wait *= 2;
    }
    Err(TrackerError::Timeout(total))
}
