//! Downloads and uploads against real libtorrent peers on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::opentracker::Opentracker;
use common::peers::{
    assert_same_tree, create_torrent, libtorrent, piecewise, write_multi_file_data,
};
use futures::StreamExt;
use piecewise::engine::events::{TorrentEvent, TorrentState};
use piecewise::engine::handle::{Engine, EngineConfig, TorrentSource};
use piecewise::engine::limits::SNUB_TIMEOUT;
use piecewise::engine::metainfo::Metainfo;
use piecewise::engine::picker::Policy;
use piecewise::engine::wire::{Message, MessageCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::FramedRead;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_multi_file_torrent_from_three_libtorrent_seeders_found_through_opentracker() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    // The info-hash does not depend on the trackers: learn it, whitelist
    // it, then make the torrent that names the tracker.
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    let info_hash = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap()
        .info_hash;
    let tracker = Opentracker::start(&[info_hash]);
    create_torrent(&data, &torrent, 32 * 1024, &[tracker.http_url()]);

    // Slow seeders, so that the download needs all three.
    let mut seeders: Vec<_> = (0..3)
        .map(|_| {
            libtorrent(
                "seed",
                &torrent,
                &dir.path().join("seed"),
                &["--upload-limit".into(), "1000000".into()],
            )
        })
        .collect();
    for seeder in &mut seeders {
        seeder.wait_for_line("announced");
    }

    let download_dir = dir.path().join("download");
    let mut config = EngineConfig::new(&download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    config.policy = Policy::RarestFirst;
    let engine = Engine::start(config).await.unwrap();
    let events = engine.events();
    let handle = engine
        .add_torrent(TorrentSource::File(torrent.clone()))
        .await
        .unwrap();
    let mut connected = HashSet::new();
    let mut tracker_replies = 0;
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await.unwrap().kind {
                TorrentEvent::PeerConnected(addr) => {
                    connected.insert(addr);
                }
                TorrentEvent::TrackerReply { .. } => tracker_replies += 1,
                TorrentEvent::Finished => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "download did not finish: {:?}",
        handle.stats()
    );
    assert!(tracker_replies >= 1);
    let seeder_addrs: HashSet<_> = seeders.iter().map(|s| s.addr).collect();
    assert_eq!(
        connected, seeder_addrs,
        "all three seeders were found and used"
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}

#[test]
fn downloads_multi_file_torrent_from_libtorrent_seeder_given_with_peer() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);

    let download_dir = dir.path().join("download");
    let log = dir.path().join("download.log");
    let mut download = piecewise(
        "download",
        &[
            "--download-dir".into(),
            download_dir.display().to_string(),
            "--peer".into(),
            seeder.addr.to_string(),
        ],
        &torrent,
        &log,
    );
    let status = download.wait(Duration::from_secs(60));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}

#[test]
fn libtorrent_leecher_completes_a_torrent_only_piecewise_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 64 * 1024, &[]);
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
    let mut leecher = libtorrent(
        "leech",
        &torrent,
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

/// What a stalling peer saw: requests and cancels, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Request,
    Cancel,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_peer_is_snubbed_and_the_download_completes_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("seed"), "multi");
    let torrent = dir.path().join("multi.torrent");
    create_torrent(&data, &torrent, 32 * 1024, &[]);
    let info_hash = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap()
        .info_hash;

    // A peer that has everything, unchokes, and never sends a block.
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let staller_addr = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut handshake = [0u8; 68];
        stream.read_exact(&mut handshake).await.unwrap();
        handshake[20..28].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x04]);
        handshake[28..48].copy_from_slice(&info_hash.0);
        handshake[48..68].copy_from_slice(b"-XX0000-stallingpeer");
        stream.write_all(&handshake).await.unwrap();
        // HaveAll, Unchoke.
        stream
            .write_all(&[0, 0, 0, 1, 14, 0, 0, 0, 1, 1])
            .await
            .unwrap();
        let mut messages = FramedRead::new(stream, MessageCodec);
        while let Some(Ok(message)) = messages.next().await {
            let seen = match message {
                Message::Request(_) => Seen::Request,
                Message::Cancel(_) => Seen::Cancel,
                _ => continue,
            };
            if seen_tx.send((seen, tokio::time::Instant::now())).is_err() {
                return;
            }
        }
    });

    let download_dir = dir.path().join("download");
    let mut config = EngineConfig::new(&download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    config.policy = Policy::RarestFirst;
    let engine = Engine::start(config).await.unwrap();
    let handle = engine
        .add_torrent(TorrentSource::File(torrent.clone()))
        .await
        .unwrap();
    handle.add_peers(vec![staller_addr]).unwrap();

    // Its whole pipeline is cancelled after SNUB_TIMEOUT, not before.
    let mut requests = 0;
    let mut cancels = 0;
    let mut first_request = None;
    let mut first_cancel = None;
    let snubbed = tokio::time::timeout(SNUB_TIMEOUT * 2, async {
        while let Some((what, at)) = seen.recv().await {
            match what {
                Seen::Request => {
                    requests += 1;
                    first_request.get_or_insert(at);
                }
                Seen::Cancel => {
                    cancels += 1;
                    first_cancel.get_or_insert(at);
                    if cancels == requests {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(snubbed.is_ok(), "{requests} requests, {cancels} cancels");
    let waited = first_cancel.unwrap() - first_request.unwrap();
    assert!(
        waited >= SNUB_TIMEOUT - Duration::from_secs(1),
        "{waited:?}"
    );

    // An honest seeder then delivers everything.
    let seeder = libtorrent("seed", &torrent, &dir.path().join("seed"), &[]);
    handle.add_peers(vec![seeder.addr]).unwrap();
    let mut stats = handle.stats_watch();
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        stats.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await;
    assert!(
        done.is_ok(),
        "download did not finish: {:?}",
        handle.stats()
    );
    assert_same_tree(&data, &download_dir.join("multi"));
}
