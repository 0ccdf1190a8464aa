//! Benchmark: time from adding a magnet link to verified metadata, for
//! Piecewise and for a libtorrent session, on the same local swarm in the
//! same run (libtorrent seeders on 127.0.0.1), with the peers named in the
//! link (`x.pe`) and found through a loopback-only DHT. Prints medians; never
//! fails on speed. Not part of `cargo test`:
//!
//!     cargo test --test magnet_bench -- --ignored --nocapture

mod common;

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use common::dht::LoopbackDht;
use common::engine::loopback_config;
use common::peers::{Peer, create_torrent, libtorrent, magnet_uri, write_data};
use piecewise::engine::handle::{DhtConfig, Engine, TorrentSource};
use piecewise::engine::metainfo::Metainfo;

/// Repetitions per client and scenario; the median is reported.
const REPETITIONS: usize = 7;

/// 64 MiB in 16 KiB pieces: 4096 piece hashes, an ~80 KiB info dictionary
/// (five `ut_metadata` pieces), larger than most real video torrents'.
const DATA_BYTES: usize = 64 * 1024 * 1024;
const PIECE_BYTES: u32 = 16 * 1024;

/// Seconds Piecewise takes from `add_torrent(magnet)` to its return, which
/// happens once a copy of the metadata verified.
async fn piecewise_seconds(uri: &str, download_dir: &Path, dht: Option<DhtConfig>) -> f64 {
    let mut config = loopback_config(download_dir);
    config.dht = dht;
    let engine = Engine::start(config).await.unwrap();
    let source = TorrentSource::from_argument(uri).unwrap();
    let start = Instant::now();
    let handle = tokio::time::timeout(Duration::from_secs(120), engine.add_torrent(source))
        .await
        .expect("Piecewise resolved the magnet")
        .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    handle.remove(true).await.unwrap();
    seconds
}

/// Seconds a fresh libtorrent session takes from adding the link to its
/// `metadata_received_alert`.
fn libtorrent_seconds(uri: &str, save_dir: &Path, extra: &[String]) -> f64 {
    let mut peer: Peer = libtorrent(
        "metadata",
        Path::new(uri),
        save_dir,
        &[extra, &["--timeout".into(), "120".into()]].concat(),
    );
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            peer.stdout.read_line(&mut line).unwrap() > 0,
            "libtorrent did not resolve the magnet"
        );
        if let Some(rest) = line.trim().strip_prefix("{\"metadata_seconds\": ") {
            return rest.trim_end_matches('}').parse().unwrap();
        }
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --test magnet_bench -- --ignored --nocapture"]
async fn time_to_metadata_piecewise_and_libtorrent_on_one_swarm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/bench.bin");
    write_data(&data, DATA_BYTES, 7);
    let torrent = dir.path().join("bench.torrent");
    create_torrent(&data, &torrent, PIECE_BYTES, &[]);
    let metainfo = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let dht = LoopbackDht::start();
    let seeders = dht.announced_seeders(3, &torrent, &dir.path().join("seed"));
    let addrs: Vec<_> = seeders.iter().map(|s| s.addr).collect();
    println!(
        "magnet to verified metadata: {} bytes of info dictionary, 3 libtorrent seeders, {REPETITIONS} runs each, medians",
        metainfo.info_bytes.len()
    );
    let scenarios = [
        (
            "x.pe (3 peers in the link)",
            magnet_uri(&metainfo, &addrs, &[]),
            false,
        ),
        ("loopback DHT only", magnet_uri(&metainfo, &[], &[]), true),
    ];
    for (name, uri, use_dht) in scenarios {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for run in 0..REPETITIONS {
            let dht_config = use_dht.then(|| DhtConfig {
                bootstrap: vec![dht.addr.to_string()],
                nodes_file: None,
            });
            let lt_args = if use_dht {
                dht.libtorrent_args()
            } else {
                Vec::new()
            };
            // Alternate who goes first, so neither always meets warm caches.
            let save = |who: &str| dir.path().join(format!("{who}-{run}"));
            if run % 2 == 0 {
                ours.push(piecewise_seconds(&uri, &save("pw"), dht_config).await);
                theirs.push(libtorrent_seconds(&uri, &save("lt"), &lt_args));
            } else {
                theirs.push(libtorrent_seconds(&uri, &save("lt"), &lt_args));
                ours.push(piecewise_seconds(&uri, &save("pw"), dht_config).await);
            }
        }
        let (ours_median, theirs_median) = (median(ours.clone()), median(theirs.clone()));
        println!("  {name}:");
        println!("    piecewise  median {ours_median:.3} s  runs {ours:.3?}");
        println!("    libtorrent median {theirs_median:.3} s  runs {theirs:.3?}");
        println!(
            "    ratio piecewise/libtorrent: {:.2}",
            ours_median / theirs_median
        );
    }
}
