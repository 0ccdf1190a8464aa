//! Magnet links (BEP 9) and trackerless peer discovery against real peers
//! on 127.0.0.1: the info dictionary is fetched over `ut_metadata`,
//! verified, and the torrent is then downloaded like one opened from a
//! file; peers come from the link, a tracker, a loopback-only DHT (BEP 5)
//! or other peers' PEX messages (BEP 11).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::dht::LoopbackDht;
use common::engine::{LoopbackDownload, loopback_config};
use common::opentracker::Opentracker;
use common::peers::{
    assert_libtorrent_leeches_from_piecewise, assert_same_tree, libtorrent, libtorrent_seeders,
    magnet_uri, piecewise, seeded_torrent,
};
use piecewise::engine::events::{PeerSource, TorrentEvent};
use piecewise::engine::handle::{DhtConfig, Engine, EngineError, TorrentSource};
use piecewise::engine::limits::MAX_METADATA_BYTES;
use piecewise::engine::magnet::Magnet;

#[test]
fn download_resolves_a_magnet_with_only_peer_addresses_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let seeders = libtorrent_seeders(2, &torrent, &dir.path().join("seed"), &[]);
    let addrs: Vec<_> = seeders.iter().map(|s| s.addr).collect();
    let uri = magnet_uri(&metainfo, &addrs, &[]);

    let download_dir = dir.path().join("download");
    let log = dir.path().join("download.log");
    let start = Instant::now();
    let mut download = piecewise(
        "download",
        &["--download-dir".into(), download_dir.display().to_string()],
        Path::new(&uri),
        &log,
    );
    let status = download.wait(Duration::from_secs(60));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{log}");
    eprintln!("magnet download took {:?}", start.elapsed());
    assert!(log.contains("looking for peers"), "{log}");
    assert!(log.contains("fetching metadata ("), "{log}");
    assert!(log.contains("metadata received"), "{log}");
    assert_same_tree(&data, &download_dir.join("multi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_with_only_a_tracker_finds_seeders_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, metainfo) = seeded_torrent(dir.path(), &[]);
    let tracker = Opentracker::start(&[metainfo.info_hash]);
    let (data, torrent, _) = seeded_torrent(dir.path(), &[tracker.http_url()]);
    let mut seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    seeder.wait_for_line("announced");

    let download_dir = dir.path().join("download");
    let uri = magnet_uri(&metainfo, &[], &[tracker.http_url()]);
    let source = TorrentSource::from_argument(&uri).unwrap();
    let download = LoopbackDownload::start(loopback_config(&download_dir), source).await;
    let added = download.handle.metainfo();
    assert_eq!(added.info_hash, metainfo.info_hash);
    assert_eq!(added.trackers, vec![vec![tracker.http_url()]]);

    let seen = download
        .events_until_finished(Duration::from_secs(60))
        .await;
    let position = |wanted: &dyn Fn(&TorrentEvent) -> bool| {
        seen.iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("missing event in {seen:?}"))
    };
    let looking = position(&|e| *e == TorrentEvent::LookingForPeers);
    let fetching = position(&|e| matches!(e, TorrentEvent::FetchingMetadata { peers: 1.. }));
    let received = position(&|e| *e == TorrentEvent::MetadataReceived);
    assert!(looking < fetching && fetching < received, "{seen:?}");
    assert_same_tree(&data, &download_dir.join("multi"));
}

/// How a hostile peer spoils the metadata it serves.
#[derive(Clone, Copy)]
enum Spoil {
    /// Right sizes, wrong bytes: the copy does not hash to the info-hash.
    FlipBytes,
    /// Data messages claiming metadata larger than `MAX_METADATA_BYTES`.
    Oversized,
}

/// A peer on a real TCP socket that speaks the handshake, BEP 10 and
/// `ut_metadata`, and answers every metadata request with spoiled data.
struct HostilePeer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// Connections the other side closed.
    dropped: Arc<AtomicUsize>,
}

fn hostile_metadata_peer(info_bytes: Vec<u8>, spoil: Spoil) -> HostilePeer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = HostilePeer {
        addr: listener.local_addr().unwrap(),
        accepted: Arc::default(),
        dropped: Arc::default(),
    };
    let (accepted, dropped) = (peer.accepted.clone(), peer.dropped.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            accepted.fetch_add(1, Ordering::SeqCst);
            let info_bytes = info_bytes.clone();
            let dropped = dropped.clone();
            std::thread::spawn(move || {
                let _ = serve_spoiled_metadata(stream, &info_bytes, spoil);
                dropped.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    peer
}

/// A TCP relay to `target` that holds every connection until `ready`
/// holds, so the peer behind it answers only after the others.
fn delayed_relay(
    target: SocketAddr,
    ready: impl Fn() -> bool + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ready = Arc::new(ready);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(client) = stream else { return };
            let ready = ready.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while !ready() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let Ok(server) = TcpStream::connect(target) else {
                    return;
                };
                let (mut client_in, mut server_in) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut client_out, mut server_out) = (client, server);
                std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
                let _ = std::io::copy(&mut server_in, &mut client_out);
            });
        }
    });
    addr
}

fn serve_spoiled_metadata(
    mut stream: TcpStream,
    info_bytes: &[u8],
    spoil: Spoil,
) -> std::io::Result<()> {
    let mut handshake = [0u8; 68];
    stream.read_exact(&mut handshake)?;
    handshake[20..28].copy_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
    handshake[48..68].copy_from_slice(b"-XX0001-hostilepeer!");
    stream.write_all(&handshake)?;
    let ours = format!(
        "d1:md11:ut_metadatai3ee13:metadata_sizei{}ee",
        info_bytes.len()
    );
    write_extended(&mut stream, 0, ours.as_bytes())?;
    let mut their_id = 0;
    loop {
        let mut length = [0u8; 4];
        stream.read_exact(&mut length)?;
        let mut message = vec![0; u32::from_be_bytes(length) as usize];
        stream.read_exact(&mut message)?;
        let [20, ext_id, payload @ ..] = message.as_slice() else {
            continue;
        };
        let text = String::from_utf8_lossy(payload);
        if *ext_id == 0 {
            their_id = number_after(&text, "11:ut_metadatai").unwrap_or(0) as u8;
        } else if *ext_id == 3 {
            let piece = number_after(&text, "5:piecei").unwrap_or(0);
            let start = piece * 16384;
            let end = (start + 16384).min(info_bytes.len());
            let mut data = info_bytes[start..end].to_vec();
            let total_size = match spoil {
                Spoil::FlipBytes => {
                    data.iter_mut().for_each(|byte| *byte ^= 0x55);
                    info_bytes.len()
                }
                Spoil::Oversized => MAX_METADATA_BYTES as usize + 1,
            };
            let mut reply =
                format!("d8:msg_typei1e5:piecei{piece}e10:total_sizei{total_size}ee").into_bytes();
            reply.extend_from_slice(&data);
            write_extended(&mut stream, their_id, &reply)?;
        }
    }
}

fn number_after(text: &str, prefix: &str) -> Option<usize> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    rest[..rest.find('e')?].parse().ok()
}

fn write_extended(stream: &mut TcpStream, id: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = ((payload.len() + 2) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&[20, id]);
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_that_does_not_hash_or_is_oversized_is_refused_and_an_honest_copy_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let flipper = hostile_metadata_peer(metainfo.info_bytes.to_vec(), Spoil::FlipBytes);
    let oversizer = hostile_metadata_peer(metainfo.info_bytes.to_vec(), Spoil::Oversized);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    // The honest seeder answers only once both hostile peers were dropped,
    // so their copies are surely judged first.
    let hostile_dropped = [flipper.dropped.clone(), oversizer.dropped.clone()];
    let honest = delayed_relay(seeder.addr, move || {
        hostile_dropped
            .iter()
            .all(|dropped| dropped.load(Ordering::SeqCst) > 0)
    });

    let download_dir = dir.path().join("download");
    let uri = magnet_uri(&metainfo, &[flipper.addr, oversizer.addr, honest], &[]);
    let magnet = TorrentSource::Magnet(Magnet::parse(&uri).unwrap());
    let download = LoopbackDownload::start(loopback_config(&download_dir), magnet).await;
    assert_eq!(download.handle.metainfo().info_bytes, metainfo.info_bytes);
    download
        .events_until_finished(Duration::from_secs(60))
        .await;
    assert_same_tree(&data, &download_dir.join("multi"));
    // Asked once each, then never again: not for metadata, not for pieces.
    assert_eq!(flipper.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(oversizer.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn libtorrent_resolves_a_magnet_from_the_metadata_piecewise_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let uri = magnet_uri(&metainfo, &[], &[]);
    assert_libtorrent_leeches_from_piecewise(dir.path(), &torrent, Path::new(&uri), &data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackerless_magnet_resolves_through_a_loopback_dht_and_saved_nodes_bootstrap_the_next_run()
{
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let dht = LoopbackDht::start();
    let _seeders = dht.announced_seeders(2, &torrent, &dir.path().join("seed"));
    let uri = magnet_uri(&metainfo, &[], &[]);
    let nodes_file = dir.path().join("state/dht-nodes");
    // The second run knows no bootstrap node: only the nodes the first
    // saved.
    for (run, bootstrap) in [(1, vec![dht.addr.to_string()]), (2, Vec::new())] {
        let download_dir = dir.path().join(format!("download-{run}"));
        let mut config = loopback_config(&download_dir);
        config.dht = Some(DhtConfig {
            bootstrap,
            nodes_file: Some(nodes_file.clone()),
        });
        let source = TorrentSource::from_argument(&uri).unwrap();
        let download = LoopbackDownload::start(config, source).await;
        let seen = download
            .events_until_finished(Duration::from_secs(60))
            .await;
        assert!(
            seen.iter().any(|e| matches!(
                e,
                TorrentEvent::PeersDiscovered {
                    source: PeerSource::Dht,
                    peers: 1..
                }
            )),
            "run {run}: {seen:?}"
        );
        assert!(seen.contains(&TorrentEvent::MetadataReceived), "{seen:?}");
        assert_same_tree(&data, &download_dir.join("multi"));
        // The table is saved once the torrent's own lookup ends.
        let saved = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match std::fs::read_to_string(&nodes_file) {
                    Ok(saved) => return saved,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("run {run}: routing table not saved"));
        assert!(
            saved.lines().all(|line| line.starts_with("127.0.0.1:")),
            "{saved}"
        );
        assert!(saved.lines().count() >= 1, "run {run}: no node saved");
    }
}

#[tokio::test]
async fn magnet_without_peers_or_trackers_is_refused_at_once_when_the_dht_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(loopback_config(dir.path())).await.unwrap();
    let uri = format!("magnet:?xt=urn:btih:{}", "ab".repeat(20));
    let error = engine
        .add_torrent(TorrentSource::from_argument(&uri).unwrap())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, EngineError::MagnetWithoutSources),
        "{error}"
    );
    assert!(error.to_string().contains("DHT is off"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_known_only_through_another_peers_pex_is_connected_and_serves_the_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, _) = seeded_torrent(dir.path(), &[]);
    // Nobody announces the hidden seeder: no tracker, no DHT. Only the
    // relay, a libtorrent leecher that dials it, knows its address; the
    // relay downloads so slowly that it has next to nothing to give.
    let hidden = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    let relay = libtorrent(
        "leech",
        &torrent,
        &dir.path().join("relay"),
        &[
            "--peer".into(),
            hidden.addr.to_string(),
            "--download-limit".into(),
            "2000".into(),
        ],
    );
    let download_dir = dir.path().join("download");
    let source = TorrentSource::File(torrent.clone());
    let download = LoopbackDownload::start(loopback_config(&download_dir), source).await;
    download.handle.add_peers(vec![relay.addr]).unwrap();
    let seen = download
        .events_until_finished(Duration::from_secs(90))
        .await;
    let learned = seen
        .iter()
        .position(|e| {
            matches!(
                e,
                TorrentEvent::PeersDiscovered {
                    source: PeerSource::Pex,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("no PEX message: {seen:?}"));
    let connected = seen
        .iter()
        .position(|e| *e == TorrentEvent::PeerConnected(hidden.addr))
        .unwrap_or_else(|| panic!("hidden seeder never connected: {seen:?}"));
    assert!(learned < connected, "{seen:?}");
    assert_same_tree(&data, &download_dir.join("multi"));
}
