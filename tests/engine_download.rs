//! Downloads and uploads against real libtorrent peers on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::engine::LoopbackDownload;
use common::opentracker::Opentracker;
use common::peers::{
    assert_libtorrent_leeches_from_piecewise, assert_same_tree, libtorrent, piecewise,
    seeded_torrent,
};
use futures::StreamExt;
use piecewise::engine::events::{TorrentEvent, TorrentState};
use piecewise::engine::limits::SNUB_TIMEOUT;
use piecewise::engine::wire::{Message, MessageCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::FramedRead;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_multi_file_torrent_from_three_libtorrent_seeders_found_through_opentracker() {
    let dir = tempfile::tempdir().unwrap();
    // The info-hash does not depend on the trackers: learn it, whitelist
    // it, then make the torrent that names the tracker.
    let (_, _, metainfo) = seeded_torrent(dir.path(), &[]);
    let tracker = Opentracker::start(&[metainfo.info_hash]);
    let (data, torrent, _) = seeded_torrent(dir.path(), &[tracker.http_url()]);

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
    let download = LoopbackDownload::of_file(&download_dir, &torrent).await;
    let seen = download
        .events_until_finished(Duration::from_secs(60))
        .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, TorrentEvent::TrackerReply { .. }))
    );
    let connected: HashSet<_> = seen
        .iter()
        .filter_map(|e| match e {
            TorrentEvent::PeerConnected(addr) => Some(*addr),
            _ => None,
        })
        .collect();
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
    let (data, torrent, _) = seeded_torrent(dir.path(), &[]);
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
    let (data, torrent, _) = seeded_torrent(dir.path(), &[]);
    assert_libtorrent_leeches_from_piecewise(dir.path(), &torrent, &torrent, &data);
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
    let (data, torrent, metainfo) = seeded_torrent(dir.path(), &[]);
    let info_hash = metainfo.info_hash;

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
    let download = LoopbackDownload::of_file(&download_dir, &torrent).await;
    let handle = &download.handle;
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
