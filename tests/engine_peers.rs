//! The peer snapshot the stats panel shows, taken from real libtorrent
//! peers on 127.0.0.1.

mod common;

use std::time::Duration;

use common::engine::{LoopbackDownload, loopback_config};
use common::peers::{create_torrent, libtorrent, libtorrent_seeders, write_data};
use piecewise::engine::events::PeerSnapshot;
use piecewise::engine::handle::{TorrentHandle, TorrentSource};

/// Rates are smoothed over a few seconds and the machine is loaded.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls the snapshot until `done` holds for it; returns it.
async fn wait_for_peers(
    handle: &TorrentHandle,
    done: impl Fn(&[PeerSnapshot]) -> bool,
) -> Vec<PeerSnapshot> {
    let mut last = Vec::new();
    let waited = tokio::time::timeout(SNAPSHOT_TIMEOUT, async {
        loop {
            last = handle.peers().await.expect("the torrent answers");
            if done(&last) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "peers never matched: {last:#?}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_snapshot_names_libtorrent_clients_with_their_rates_pieces_and_direction() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let data = seed_dir.join("data.bin");
    write_data(&data, 6 * 1024 * 1024, 7);
    let torrent = dir.path().join("data.torrent");
    create_torrent(&data, &torrent, 64 * 1024, &[]);
    // Slow enough that the download is still running while we look.
    let seeders = libtorrent_seeders(
        2,
        &torrent,
        &seed_dir,
        &["--upload-limit".into(), "300000".into()],
    );

    let config = loopback_config(dir.path().join("download"));
    let download = LoopbackDownload::start(config, TorrentSource::File(torrent.clone())).await;
    let handle = &download.handle;
    let piece_count = handle.metainfo().info.piece_count();
    handle
        .add_peers(seeders.iter().map(|seeder| seeder.addr).collect())
        .unwrap();

    let peers = wait_for_peers(handle, |peers| {
        peers.len() == 2 && peers.iter().all(|peer| peer.download_rate > 0.0)
    })
    .await;
    for peer in &peers {
        assert!(
            seeders.iter().any(|seeder| seeder.addr == peer.addr),
            "{peer:?}"
        );
        let client = peer.client.as_deref().unwrap_or_default();
        assert!(client.starts_with("libtorrent"), "client {client:?}");
        assert_eq!(peer.pieces, piece_count, "a seeder has every piece");
        assert!(!peer.incoming, "we dialled the seeders");
        assert!(peer.we_are_interested && !peer.choking_us, "{peer:?}");
        assert!(!peer.snubbed, "{peer:?}");
    }

    // A libtorrent leecher dials us and downloads what we have.
    let mut leecher = libtorrent(
        "leech",
        &torrent,
        &dir.path().join("leech"),
        &["--peer".into(), download.engine.listen_addr().to_string()],
    );
    let peers = wait_for_peers(handle, |peers| {
        peers
            .iter()
            .any(|peer| peer.incoming && peer.upload_rate > 0.0)
    })
    .await;
    let leech = peers
        .iter()
        .find(|peer| peer.incoming)
        .expect("the leecher");
    // It gets data, so we unchoked it (its interest comes and goes as
    // it catches up with what we have).
    assert!(!leech.choked_by_us, "{leech:?}");
    assert!(
        leech
            .client
            .as_deref()
            .is_some_and(|client| client.starts_with("libtorrent")),
        "{leech:?}"
    );
    assert!(leech.pieces < piece_count, "{leech:?}");
    let _ = leecher.child.kill();
}
