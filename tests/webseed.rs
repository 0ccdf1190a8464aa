//! Web seeds (BEP 19) against Debian's nginx on 127.0.0.1: downloads from
//! the origin alone, a corrupt origin next to a libtorrent seeder, origins
//! that ignore ranges, redirect where they must not or fall silent, HTTPS
//! origins with trusted and untrusted certificates, and playback from a
//! thin swarm that the origin tops up only where peers would be late.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::engine::loopback_config;
use common::nginx::Nginx;
use common::peers::{
    assert_same_tree, create_torrent_with_web_seeds, libtorrent, libtorrent_seeders, write_data,
    write_multi_file_data,
};
use common::tls::ServerCertificate;
use common::{TEN_SECONDS, output_within, play_headless, ten_second_video, write_video};
use piecewise::engine::events::{TorrentEvent, TorrentState, TorrentStats};
use piecewise::engine::handle::{Engine, EngineConfig, OriginUse, TorrentSource};
use piecewise::engine::limits::{
    MAX_WEB_SEED_REDIRECTS, MAX_WEB_SEED_RESPONSE_BYTES, WEB_SEED_SILENCE_TIMEOUT,
};
use piecewise::engine::picker::Policy;
use piecewise::player::sample::{SampleFormat, SampleVideo};

/// Longest any download here may take on a loaded machine.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(90);

/// What a download saw: its events in order and its last stats.
struct Outcome {
    events: Vec<TorrentEvent>,
    stats: TorrentStats,
}

impl Outcome {
    fn dropped_reasons(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|event| match event {
                TorrentEvent::WebSeedDropped { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    fn finished(&self) -> bool {
        self.events.contains(&TorrentEvent::Finished)
    }
}

/// Downloads `torrent` in process into `dir/download`, with `origin` and
/// the given peers, until `done` says so (or the timeout passes).
async fn download(
    dir: &Path,
    torrent: &Path,
    origin: OriginUse,
    peers: Vec<SocketAddr>,
    done: fn(&[TorrentEvent]) -> bool,
) -> Outcome {
    download_with(web_seed_config(dir, origin), torrent, peers, done).await
}

/// An engine on 127.0.0.1 downloading whole torrents into `dir/download`
/// with `origin`.
fn web_seed_config(dir: &Path, origin: OriginUse) -> EngineConfig {
    let mut config = loopback_config(dir.join("download"));
    config.policy = Policy::RarestFirst;
    config.origin = origin;
    config
}

/// [`download`] with an engine configured by the caller.
async fn download_with(
    config: EngineConfig,
    torrent: &Path,
    peers: Vec<SocketAddr>,
    done: fn(&[TorrentEvent]) -> bool,
) -> Outcome {
    let engine = Engine::start(config).await.unwrap();
    let events = engine.events();
    let handle = engine
        .add_torrent(TorrentSource::File(torrent.to_owned()))
        .await
        .unwrap();
    if !peers.is_empty() {
        handle.add_peers(peers).unwrap();
    }
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(DOWNLOAD_TIMEOUT, async {
        while !done(&seen) {
            let Ok(event) = events.recv().await else {
                return;
            };
            seen.push(event.kind);
        }
    })
    .await;
    if finished(&seen) {
        // `Finished` is emitted just before the stats that go with it.
        let mut stats = handle.stats_watch();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            stats.wait_for(|s| s.state == TorrentState::Seeding),
        )
        .await;
    }
    Outcome {
        events: seen,
        stats: handle.stats(),
    }
}

fn finished(events: &[TorrentEvent]) -> bool {
    events.contains(&TorrentEvent::Finished)
}

fn web_seed_dropped(events: &[TorrentEvent]) -> bool {
    events
        .iter()
        .any(|event| matches!(event, TorrentEvent::WebSeedDropped { .. }))
}

/// nginx serving `dir/origin` with `directives`, and a torrent of `data`
/// whose one web seed is `url_path` on it.
fn web_seeded_torrent(
    dir: &Path,
    data: &Path,
    piece_length: u32,
    url_path: &str,
    directives: &str,
) -> (Nginx, PathBuf) {
    let nginx = Nginx::start(&dir.join("origin"), directives);
    let torrent = dir.join("web-seeded.torrent");
    create_torrent_with_web_seeds(data, &torrent, piece_length, &[], &[nginx.url(url_path)]);
    (nginx, torrent)
}

/// Downloads a `len`-byte file from an origin served with `directives`,
/// and nothing else, until the origin is dropped.
async fn download_until_origin_dropped(
    dir: &Path,
    len: usize,
    directives: &str,
) -> (Nginx, Outcome) {
    let data = dir.join("origin/file.bin");
    write_data(&data, len, 5);
    let (nginx, torrent) = web_seeded_torrent(dir, &data, 64 * 1024, "file.bin", directives);
    let outcome = download(
        dir,
        &torrent,
        OriginUse::Always,
        Vec::new(),
        web_seed_dropped,
    )
    .await;
    (nginx, outcome)
}

/// Requests nginx answered with the whole file instead of a range.
fn whole_file_answers(nginx: &Nginx) -> Vec<String> {
    nginx
        .requests()
        .into_iter()
        .filter(|(status, _, _)| *status != 206)
        .map(|(status, _, request)| format!("{status} {request}"))
        .collect()
}

/// Asserts the downloaded file `name` holds the bytes of `original`.
fn assert_downloaded(dir: &Path, name: &str, original: &Path) {
    let got = std::fs::read(dir.join("download").join(name)).unwrap();
    assert!(got == std::fs::read(original).unwrap(), "{name} differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_seed_alone_downloads_a_single_file_torrent_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("origin/movie file.bin");
    write_data(&data, 3_000_017, 7);
    let (nginx, torrent) = web_seeded_torrent(dir.path(), &data, 64 * 1024, "movie%20file.bin", "");
    let outcome = download(
        dir.path(),
        &torrent,
        OriginUse::AvoidStall,
        Vec::new(),
        finished,
    )
    .await;
    assert!(
        outcome.finished(),
        "not finished: {:?}\n{}",
        outcome.dropped_reasons(),
        nginx.error_log()
    );
    assert_downloaded(dir.path(), "movie file.bin", &data);
    assert_eq!(outcome.stats.bytes_from_web_seeds, 3_000_017);
    assert_eq!(outcome.stats.bytes_downloaded, 3_000_017);
    assert!(whole_file_answers(&nginx).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_seed_alone_downloads_a_multi_file_torrent_with_ranges_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_multi_file_data(&dir.path().join("origin"), "multi");
    // The BEP 19 base URL of a multi-file torrent: name and path follow.
    let (nginx, torrent) = web_seeded_torrent(dir.path(), &data, 32 * 1024, "", "");
    let outcome = download(
        dir.path(),
        &torrent,
        OriginUse::Always,
        Vec::new(),
        finished,
    )
    .await;
    assert!(
        outcome.finished(),
        "not finished: {:?}",
        outcome.dropped_reasons()
    );
    assert_same_tree(&data, &dir.path().join("download/multi"));
    let total: u64 = 1_500_000 + 700_001 + 33 + 1_048_576;
    assert_eq!(outcome.stats.bytes_from_web_seeds, total);
    // Byte ranges of what was wanted, never whole files, and each byte once.
    assert!(whole_file_answers(&nginx).is_empty());
    assert_eq!(nginx.bytes_sent(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_serving_a_corrupt_piece_is_dropped_and_a_libtorrent_seeder_completes_it() {
    const PIECE: usize = 64 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/video.bin");
    write_data(&data, 40 * PIECE + 1000, 11);
    // The origin's copy differs in one piece.
    let corrupt_piece = 17;
    let mut copy = std::fs::read(&data).unwrap();
    for byte in &mut copy[corrupt_piece * PIECE + 100..corrupt_piece * PIECE + 200] {
        *byte ^= 0x5a;
    }
    std::fs::create_dir_all(dir.path().join("origin")).unwrap();
    std::fs::write(dir.path().join("origin/video.bin"), &copy).unwrap();
    let (_nginx, torrent) = web_seeded_torrent(dir.path(), &data, PIECE as u32, "video.bin", "");
    // A slow seeder: the quick origin supplies most pieces, the bad one alone.
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("seed"),
        &["--upload-limit".into(), "300000".into()],
    );
    let outcome = download(
        dir.path(),
        &torrent,
        OriginUse::Always,
        vec![seeder.addr],
        finished,
    )
    .await;
    assert!(
        outcome.events.contains(&TorrentEvent::HashFailed {
            piece: corrupt_piece as u32
        }),
        "{:?}",
        outcome.events
    );
    let reasons = outcome.dropped_reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("failed the hash check"), "{reasons:?}");
    assert!(outcome.finished(), "the seeder completes the download");
    assert_downloaded(dir.path(), "video.bin", &data);
    assert!(outcome.stats.bytes_from_web_seeds > 0);
    assert!(outcome.stats.bytes_from_web_seeds < outcome.stats.bytes_downloaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_that_ignores_ranges_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // `max_ranges 0`: nginx answers every range request with the whole file.
    let (_nginx, outcome) =
        download_until_origin_dropped(dir.path(), 1_000_000, "max_ranges 0;").await;
    assert_eq!(
        outcome.dropped_reasons(),
        vec!["the server ignored the byte range and sent the whole file".to_owned()]
    );
    assert_eq!(outcome.stats.bytes_from_web_seeds, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_response_larger_than_the_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let len = MAX_WEB_SEED_RESPONSE_BYTES as usize + 1;
    let (nginx, outcome) = download_until_origin_dropped(dir.path(), len, "max_ranges 0;").await;
    assert_eq!(
        outcome.dropped_reasons(),
        vec![format!(
            "the response is larger than {MAX_WEB_SEED_RESPONSE_BYTES} bytes"
        )]
    );
    // Refused on its Content-Length: far less than the body was read.
    assert_eq!(outcome.stats.bytes_from_web_seeds, 0);
    assert!(nginx.requests().len() <= 4, "{:?}", nginx.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_redirecting_in_a_loop_is_dropped_after_the_redirect_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (nginx, outcome) =
        download_until_origin_dropped(dir.path(), 200_000, "location / { return 302 /again$uri; }")
            .await;
    let reasons = outcome.dropped_reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("too many redirects"), "{reasons:?}");
    // The first range and its redirects, nothing after the drop; ranges
    // already in flight may have hit the limit too.
    let hops = nginx.requests().len();
    assert!(
        hops > MAX_WEB_SEED_REDIRECTS && hops <= 4 * (MAX_WEB_SEED_REDIRECTS + 1),
        "{hops} requests"
    );
}

#[test]
fn thin_swarm_plus_origin_plays_without_stall_and_origin_serves_under_half() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    // 40 s, about 2 Mbit/s, index at the end: the tail is needed at once.
    // The origin's share is mostly the start-up burst (head, tail, first
    // window, while no peer is measured), so the clip must be long enough
    // for that to be a minority.
    let video = write_video(
        &seed_dir,
        SampleVideo {
            width: 640,
            height: 360,
            frames: 4 * TEN_SECONDS,
            ..ten_second_video(SampleFormat::Mp4H264AacIndexAtEnd)
        },
    );
    let size = std::fs::metadata(&video).unwrap().len();
    let bitrate = size as f64 / 40.0;
    // Each connection paced at 0.35x the bitrate from its first byte: with
    // 4 ranges in flight the origin alone sustains about 1.4x the bitrate.
    let nginx = Nginx::start_throttled(&seed_dir, "", 0.35 * bitrate);
    let torrent = dir.path().join("video.torrent");
    create_torrent_with_web_seeds(
        &video,
        &torrent,
        256 * 1024,
        &[],
        &[nginx.url("sample.mp4")],
    );
    // Two seeders at 0.4x the bitrate each: 0.8x in total.
    let limit = ((0.4 * bitrate) as u64).to_string();
    let seeders = libtorrent_seeders(2, &torrent, &seed_dir, &["--upload-limit".into(), limit]);
    let peers: Vec<String> = seeders.iter().map(|s| s.addr.to_string()).collect();
    let (output, run) = play_headless(dir.path(), &torrent, &peers, &[]);
    assert!(output.status.success(), "play failed");
    let run = run.expect("stats written");
    for sample in &run.series {
        eprintln!(
            "t {:5.1} pos {:5.1} buf {:5.1} peers {} down {:8} origin {:8} wasted {:8}",
            sample.t_s,
            sample.position_s,
            sample.buffer_ahead_s,
            sample.peers,
            sample.bytes_down,
            sample.bytes_from_web_seeds,
            sample.bytes_wasted
        );
    }
    let summary = run.summary;
    let from_origin = summary.bytes_from_web_seeds;
    let served = nginx.bytes_sent();
    eprintln!(
        "file {size} B; from the origin {from_origin} B counted, {served} B sent by nginx; \
         {} stalls; played {:.1} s",
        summary.stall_count, summary.played_s
    );
    assert_eq!(summary.stall_count, 0, "stalls");
    assert!(summary.played_s >= 37.0, "played {}", summary.played_s);
    assert!(from_origin > 0, "the origin filled in");
    assert!(served < size / 2, "nginx sent {served} of {size} bytes");
}

/// `piecewise VERB --origin always` (`download` or `cat`) of `torrent`
/// into `dir/download` from `peers` and its web seeds, trusting the CA
/// bundle `ca_file` (or the system's roots): its output once it exits.
/// The engine's log is off: what it prints is the verb's own.
fn run_cli(
    verb: &str,
    dir: &Path,
    torrent: &Path,
    peers: &[String],
    ca_file: Option<&Path>,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    command
        .args([verb, "--listen-ip", "127.0.0.1", "--no-dht"])
        .args(["--origin", "always", "--download-dir"])
        .arg(dir.join("download"))
        .env_remove("SSL_CERT_DIR")
        .env("RUST_LOG", "off");
    match ca_file {
        Some(file) => command.env("SSL_CERT_FILE", file),
        None => command.env_remove("SSL_CERT_FILE"),
    };
    for peer in peers {
        command.arg("--peer").arg(peer);
    }
    let output = output_within(command.arg(torrent), DOWNLOAD_TIMEOUT);
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The lines of `output`'s stderr that say the web seed `url` was dropped,
/// without the "dropped web seed URL: " part.
fn drop_reasons_printed(output: &std::process::Output, url: &str) -> Vec<String> {
    let prefix = format!("dropped web seed {url}: ");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

#[test]
fn https_web_seed_with_a_certificate_from_a_trusted_ca_downloads_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("origin/film.bin");
    write_data(&data, 1_500_001, 3);
    let certificate = ServerCertificate::signed_by_test_ca();
    let nginx = Nginx::start_https(&dir.path().join("origin"), "", &certificate);
    let torrent = dir.path().join("film.torrent");
    create_torrent_with_web_seeds(&data, &torrent, 64 * 1024, &[], &[nginx.url("film.bin")]);
    // The CA is trusted only through SSL_CERT_FILE, as a system bundle.
    let output = run_cli("download", dir.path(), &torrent, &[], Some(&certificate.ca));
    assert!(output.status.success(), "{}", nginx.error_log());
    assert_downloaded(dir.path(), "film.bin", &data);
    assert!(whole_file_answers(&nginx).is_empty());
    assert_eq!(nginx.bytes_sent(), 1_500_001);
}

#[test]
fn https_web_seed_with_an_untrusted_certificate_is_dropped_and_a_libtorrent_seeder_completes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/film.bin");
    write_data(&data, 1_500_001, 3);
    let nginx = Nginx::start_https(
        &dir.path().join("seed"),
        "",
        &ServerCertificate::self_signed(),
    );
    let torrent = dir.path().join("film.torrent");
    create_torrent_with_web_seeds(&data, &torrent, 64 * 1024, &[], &[nginx.url("film.bin")]);
    // Slow enough that the handshake fails before the seeder is done.
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("seed"),
        &["--upload-limit".into(), "300000".into()],
    );
    // The system's roots only: nobody vouches for a self-signed origin.
    let peers = [seeder.addr.to_string()];
    let output = run_cli("download", dir.path(), &torrent, &peers, None);
    assert!(output.status.success());
    let reasons = drop_reasons_printed(&output, &nginx.url("film.bin"));
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("invalid peer certificate: UnknownIssuer"),
        "{reasons:?}"
    );
    assert_downloaded(dir.path(), "film.bin", &data);
    // The handshake failed: nginx served no byte.
    assert_eq!(nginx.bytes_sent(), 0);
}

#[test]
fn download_and_cat_say_which_web_seed_they_dropped_and_why() {
    let dir = tempfile::tempdir().unwrap();
    // A name `cat` takes for the video it streams.
    let data = dir.path().join("origin/film.mp4");
    write_data(&data, 1_500_001, 3);
    // `max_ranges 0`: nginx answers every range request with the whole file.
    let (nginx, torrent) =
        web_seeded_torrent(dir.path(), &data, 64 * 1024, "film.mp4", "max_ranges 0;");
    // Slow enough that the origin answers before the seeder is done.
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("origin"),
        &["--upload-limit".into(), "300000".into()],
    );
    let peers = [seeder.addr.to_string()];
    for verb in ["download", "cat"] {
        let output = run_cli(verb, &dir.path().join(verb), &torrent, &peers, None);
        assert!(output.status.success(), "{verb} failed");
        assert_eq!(
            drop_reasons_printed(&output, &nginx.url("film.mp4")),
            ["the server ignored the byte range and sent the whole file"],
            "{verb}"
        );
    }
}

fn finished_and_web_seed_dropped(events: &[TorrentEvent]) -> bool {
    finished(events) && web_seed_dropped(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_origin_is_dropped_after_the_silence_timeout_and_a_libtorrent_seeder_completes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed/film.bin");
    write_data(&data, 2_000_000, 9);
    // A hostile origin: it accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/film.bin", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in silent.incoming() {
            held.push(socket);
        }
    });
    let torrent = dir.path().join("film.torrent");
    create_torrent_with_web_seeds(&data, &torrent, 64 * 1024, &[], &[url]);
    // Slow enough that the download outlasts the timeout.
    let seeder = libtorrent(
        "seed",
        &torrent,
        &dir.path().join("seed"),
        &["--upload-limit".into(), "400000".into()],
    );
    let silence = Duration::from_secs(2);
    let mut config = web_seed_config(dir.path(), OriginUse::Always);
    config.web_seed_silence_timeout = silence;
    let started = std::time::Instant::now();
    let outcome = download_with(
        config,
        &torrent,
        vec![seeder.addr],
        finished_and_web_seed_dropped,
    )
    .await;
    assert_eq!(
        outcome.dropped_reasons(),
        vec![format!("the server sent nothing for {silence:?}")]
    );
    assert!(outcome.finished(), "the seeder completes the download");
    assert!(started.elapsed() >= silence);
    assert_downloaded(dir.path(), "film.bin", &data);
    assert_eq!(outcome.stats.bytes_from_web_seeds, 0);
}

#[test]
fn web_seed_silence_timeout_defaults_to_the_named_limit() {
    assert_eq!(
        EngineConfig::new("download").web_seed_silence_timeout,
        WEB_SEED_SILENCE_TIMEOUT
    );
}
