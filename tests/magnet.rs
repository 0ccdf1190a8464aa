//! Magnet links (BEP 9) against real peers on 127.0.0.1: the info
//! dictionary is fetched over `ut_metadata`, verified, and the torrent is
//! then downloaded like one opened from a file.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::opentracker::Opentracker;
use common::peers::{
    assert_same_tree, create_torrent, libtorrent, piecewise, write_multi_file_data,
};
use piecewise::engine::events::TorrentEvent;
use piecewise::engine::handle::{Engine, EngineConfig, TorrentSource};
use piecewise::engine::limits::MAX_METADATA_BYTES;
use piecewise::engine::magnet::Magnet;
use piecewise::engine::metainfo::Metainfo;

/// Data for a multi-file torrent below `dir/seed` and its torrent file.
fn seeded_torrent(dir: &Path, trackers: &[String]) -> (PathBuf, PathBuf, Metainfo) {
    let data = write_multi_file_data(&dir.join("seed"), "multi");
    let torrent = dir.join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, trackers);
    let metainfo = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (data, torrent, metainfo)
}

fn magnet_uri(metainfo: &Metainfo, peers: &[SocketAddr], trackers: &[String]) -> String {
    let mut uri = format!(
        "magnet:?xt=urn:btih:{}&dn=multi",
        metainfo.info_hash.to_hex()
    );
    for peer in peers {
        uri.push_str(&format!("&x.pe={peer}"));
    }
    for tracker in trackers {
        uri.push_str(&format!("&tr={tracker}"));
    }
    uri
}

#[test]
fn download_resolves_a_magnet_with_only_peer_addresses_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let seeders: Vec<_> = (0..2)
        .map(|_| libtorrent("seed", &torrent, &dir.path().join("seed"), &[]))
        .collect();
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
    let mut config = EngineConfig::new(&download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    let engine = Engine::start(config).await.unwrap();
    let events = engine.events();
    let uri = magnet_uri(&metainfo, &[], &[tracker.http_url()]);
    let source = TorrentSource::from_argument(&uri).unwrap();
    let handle = tokio::time::timeout(Duration::from_secs(30), engine.add_torrent(source))
        .await
        .expect("metadata fetched in time")
        .unwrap();
    assert_eq!(handle.metainfo().info_hash, metainfo.info_hash);
    assert_eq!(handle.metainfo().trackers, vec![vec![tracker.http_url()]]);

    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let kind = events.recv().await.unwrap().kind;
            if kind == TorrentEvent::Finished {
                return;
            }
            seen.push(kind);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("download did not finish: {:?}", handle.stats()));
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
    let mut config = EngineConfig::new(&download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    let engine = Engine::start(config).await.unwrap();
    let events = engine.events();
    let uri = magnet_uri(&metainfo, &[flipper.addr, oversizer.addr, honest], &[]);
    let magnet = Magnet::parse(&uri).unwrap();
    let handle = tokio::time::timeout(
        Duration::from_secs(30),
        engine.add_torrent(TorrentSource::Magnet(magnet)),
    )
    .await
    .expect("metadata fetched in time")
    .unwrap();
    assert_eq!(handle.metainfo().info_bytes, metainfo.info_bytes);
    tokio::time::timeout(Duration::from_secs(60), async {
        while events.recv().await.unwrap().kind != TorrentEvent::Finished {}
    })
    .await
    .unwrap_or_else(|_| panic!("download did not finish: {:?}", handle.stats()));
    assert_same_tree(&data, &download_dir.join("multi"));
    // Asked once each, then never again: not for metadata, not for pieces.
    assert_eq!(flipper.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(oversizer.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn libtorrent_resolves_a_magnet_from_the_metadata_piecewise_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let log = dir.path().join("seed.log");
    let seeder = piecewise(
        "seed",
        &[
            "--download-dir".into(),
            dir.path().join("seed").display().to_string(),
        ],
        &torrent,
        &log,
    );
    let leech_dir = dir.path().join("leech");
    let uri = magnet_uri(&metainfo, &[], &[]);
    let mut leecher = libtorrent(
        "leech",
        Path::new(&uri),
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
    assert_same_tree(&data, &leech_dir.join("multi"));
}
