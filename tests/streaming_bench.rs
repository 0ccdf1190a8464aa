//! Streaming benchmark (issue #6): prints figures, never fails on speed.
//!
//!     cargo test --test streaming_bench -- --ignored --nocapture
//!
//! On 127.0.0.1: opentracker, python3-libtorrent seeders with upload
//! limits, and a 2-minute ~3 Mbit/s H.264/AAC MP4 with its `moov` at the
//! end. For each scenario and each row (Piecewise's three policies, then
//! today's streaming clients), from engine start: the time until
//! the bytes a player needs for its first frame are readable (the head up
//! to the first video sample, and `moov`); when playback starts; the
//! stalls of a reader that then consumes at the
//! bitrate; and, in the seek scenarios, after a seek issued
//! `SEEK_AFTER_START` (15 s) after engine start whatever the client's
//! state (about 10 s into the deadline policy's playback; the others may
//! not play yet), two resume times from the seek: until the keyframe at or
//! before 50 % is
//! readable (what the player's key-unit seek shows first), and until the
//! decoder can show the exact frame at 50 % (every byte from that keyframe
//! to the frame before the next one: a keyframe interval). Writes
//! `target/bench/streaming.json`.
//!
//! Rows, all measured by the same code through
//! `common::realtime::MediaSource`:
//! - `sequential`, `rarest-first`, `deadline`: Piecewise's engine with that
//!   policy; playback starts when the player's startup rule allows it
//!   (`session::startup_verdict`, asked at each change of the torrent's
//!   stats or verified pieces, as the session asks it while held).
//! - `libtorrent + deadlines`: python3-libtorrent as libtorrent-based
//!   players stream (tests/peers/lt_stream.py): sequential download,
//!   started at once (not queued), the head and tail pieces with deadline
//!   0 first, deadlines on the pieces of
//!   each read and a 10-s read-ahead window, cleared on seek.
//! - `peerflix`: torrent-stream (`TORRENT_STREAM_VERSION`), the engine
//!   peerflix is built on, with peerflix's settings (largest file selected);
//!   reads through its `file.createReadStream({start, end})`
//!   (tests/peers/node_stream.mjs).
//! - `webtorrent`: WebTorrent (`WEBTORRENT_VERSION`), reads through its
//!   `file.createReadStream({start, end})`, its default sequential strategy.
//!
//! Each row ends with the machine's 1-minute load average: the figures
//! depend on it. Rivals have no startup rule: their playback starts when the first
//! frame's bytes are readable (a player started at once). Each gets only
//! the torrent's loopback tracker: DHT, LSD, PEX, UPnP, NAT-PMP, uTP and
//! WebRTC off. The npm packages are installed at their pinned versions
//! into target/bench/rivals on the first run (`npm install`); a rival that
//! cannot run (no node or npm, failed install) is skipped with the reason
//! printed.
//!
//! `STREAMING_BENCH_POLICY` picks rows, comma-separated, by name
//! (`deadline`, `peerflix`, `libtorrent + deadlines` or `libtorrent`) or
//! group (`policies`, `rivals`); `STREAMING_BENCH_SCENARIO=seek` (a part of
//! the name) picks scenarios; name the test to leave out the origin
//! benchmark:
//!
//!     STREAMING_BENCH_POLICY=deadline,rivals \
//!         cargo test --test streaming_bench streaming_benchmark -- --ignored --nocapture
//!
//! `RUST_LOG=piecewise::engine::torrent=trace,streaming_bench=info` adds
//! the engine's timeline on stderr (each run's start, tracker
//! replies, peers dialled, handshakes, bitfields, chokes, stream demands,
//! requests per peer, blocks, hashes; the seek and its reads), with times
//! since start.
//!
//! The origin scenario (issue #11), on its own:
//!
//!     cargo test --test streaming_bench origin -- --ignored --nocapture
//!
//! seeders at 0.8x the bitrate in total plus a throttled nginx web seed:
//! `deadline` with the origin (avoid-stall), `deadline` without it, and a
//! plain HTTP download of the same file from the same nginx.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::opentracker::Opentracker;
use common::peers::{Peer, create_torrent, create_torrent_with_web_seeds, libtorrent};
use common::realtime::{MediaSource, play_until};
use common::rivals::{Driver, Rival, TORRENT_STREAM_VERSION, WEBTORRENT_VERSION};
use piecewise::engine::events::TorrentEvent;
use piecewise::engine::handle::{Engine, EngineConfig, TorrentHandle, TorrentSource};
use piecewise::engine::metainfo::Metainfo;
use piecewise::engine::picker::{DeadlineParams, Policy};
use piecewise::engine::stream::FileStream;
use piecewise::player::session::{StartupWake, startup_verdict};

const MEDIA_SECS: u64 = 120;
const FPS: u32 = 25;
const VIDEO_KBPS: u32 = 2900;
const PIECE: u32 = 256 * 1024;
/// When the seek scenario seeks, from engine start, for every policy: the
/// deadline policy starts playing after about 4.5 s, so it has played
/// about 10 s by then.
const SEEK_AFTER_START: Duration = Duration::from_secs(15);
/// A run that has not finished by then is cut off and reported as such.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// Byte ranges a player needs, read from the MP4's boxes.
struct Mp4Layout {
    /// The whole file.
    length: u64,
    /// `moov`: the index, at the end.
    moov: (u64, u64),
    /// Start of the file up to the end of the first video sample.
    head: (u64, u64),
    /// What the decoder needs to show the frame at 50 %: from the keyframe
    /// at or before it to the end of the last frame before the next
    /// keyframe (a whole keyframe interval, audio interleaved).
    seek: (u64, u64),
    /// What the player's key-unit seek to 50 % shows first: the keyframe
    /// sample at or before it.
    seek_keyframe: (u64, u64),
}

#[derive(Clone, Copy)]
struct Scenario<'a> {
    name: &'static str,
    /// Upload limit per seeder in bytes/s; 0 is unlimited.
    seeder_limits: &'a [f64],
    seek: bool,
}

struct RunResult {
    scenario: &'static str,
    policy: &'static str,
    swarm_rate: f64,
    first_frame: Option<f64>,
    /// The pieces holding the first frame's bytes at the swarm's rate.
    first_frame_limit: f64,
    /// Engine start to the first handshake: the design's physical limit
    /// for the first frame is `set_up + first_frame_limit`.
    set_up: f64,
    /// When the startup rule let playback start, from engine start.
    playback_start: Option<f64>,
    stalls: usize,
    stall_secs: f64,
    seek_resume: Option<f64>,
    seek_limit: Option<f64>,
    keyframe_resume: Option<f64>,
    keyframe_limit: Option<f64>,
    /// A rival client rather than one of Piecewise's policies.
    rival: bool,
    /// The machine's 1-minute load average when the run ended: the
    /// figures depend on it.
    load: f64,
}

#[test]
#[ignore = "benchmark: cargo test --test streaming_bench -- --ignored --nocapture"]
fn streaming_benchmark_per_policy_and_scenario() {
    // RUST_LOG=piecewise=debug: the engine's timeline of each run.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let video = seed_dir.join("film.mp4");
    write_mp4_index_at_end(&video);
    let bytes = std::fs::read(&video).unwrap();
    let layout = mp4_layout(&bytes);
    let bitrate = bytes.len() as f64 / MEDIA_SECS as f64;
    println!(
        "media: {} bytes, {:.2} Mbit/s; moov {:?}, head {:?}, seek to 50 % needs {:?} (its keyframe {:?})",
        bytes.len(),
        bitrate * 8.0 / 1e6,
        layout.moov,
        layout.head,
        layout.seek,
        layout.seek_keyframe
    );

    // The tracker must whitelist the hash before the torrent names it:
    // make the torrent once without a tracker to learn the hash.
    let probe = dir.path().join("probe.torrent");
    create_torrent(&video, &probe, PIECE, &[]);
    let hash = Metainfo::from_bytes(&std::fs::read(&probe).unwrap())
        .unwrap()
        .info_hash;
    let tracker = Opentracker::start(&[hash]);
    let torrent = dir.path().join("film.torrent");
    create_torrent(&video, &torrent, PIECE, &[tracker.http_url()]);

    let share = 1.3 * bitrate / 4.0;
    let four = [share; 4];
    let scenarios = [
        Scenario {
            name: "1 seeder, unlimited",
            seeder_limits: &[0.0],
            seek: false,
        },
        Scenario {
            name: "4 seeders, 1.3x",
            seeder_limits: &four,
            seek: false,
        },
        Scenario {
            name: "4 seeders, 1.3x, seek",
            seeder_limits: &four,
            seek: true,
        },
    ];
    let policies = [
        ("sequential", Policy::Sequential),
        ("rarest-first", Policy::RarestFirst),
        ("deadline", Policy::Deadline(DeadlineParams::default())),
    ];
    let rows: Vec<Row> = policies
        .into_iter()
        .filter(|(name, _)| row_chosen(name, false))
        .map(|(name, policy)| Row::Policy(name, policy))
        .chain(
            Rival::ALL
                .into_iter()
                .filter(|rival| row_chosen(rival.name(), true))
                .map(Row::Rival),
        )
        .collect();
    if rows.iter().any(|row| matches!(row, Row::Rival(_))) {
        println!(
            "rivals: python3-libtorrent {}, torrent-stream {TORRENT_STREAM_VERSION} (peerflix), webtorrent {WEBTORRENT_VERSION}",
            libtorrent_version()
        );
    }
    let chosen = |variable: &str, name: &str| {
        std::env::var(variable).map_or(true, |wanted| name.contains(wanted.as_str()))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut skipped: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    let scenarios = scenarios
        .iter()
        .filter(|s| chosen("STREAMING_BENCH_SCENARIO", s.name));
    for scenario in scenarios {
        for row in &rows {
            let run_dir = tempfile::tempdir().unwrap();
            let (name, contender) = match *row {
                Row::Policy(name, policy) => (name, Contender::Policy(policy)),
                Row::Rival(rival) => {
                    let name = rival.name();
                    if skipped.contains(&name) {
                        continue;
                    }
                    // Loaded before the clock starts, as an engine is.
                    let driver = rival
                        .command(&torrent, &run_dir.path().join("download"))
                        .and_then(|command| Driver::spawn(command, name));
                    match driver {
                        Ok(driver) => (name, Contender::Rival(driver)),
                        Err(error) => {
                            println!("skipped {name}: {error:#}");
                            skipped.push(name);
                            continue;
                        }
                    }
                }
            };
            let seeders = start_seeders(scenario.seeder_limits, &torrent, &seed_dir);
            let result = runtime.block_on(run(
                run_dir.path(),
                &torrent,
                &layout,
                bitrate,
                *scenario,
                name,
                contender,
            ));
            print_row(&result);
            results.push(result);
            drop(seeders);
        }
    }
    print_table(&results);
    write_json(&results, bytes.len() as u64, bitrate);
}

/// Whether `STREAMING_BENCH_POLICY` (comma-separated; unset: every row)
/// picks the row `name`: by its name, its first word (`libtorrent`), or
/// its group (`policies`, `rivals`).
fn row_chosen(name: &str, rival: bool) -> bool {
    let Ok(wanted) = std::env::var("STREAMING_BENCH_POLICY") else {
        return true;
    };
    let group = if rival { "rivals" } else { "policies" };
    wanted
        .split(',')
        .map(str::trim)
        .any(|w| w == name || w == group || name.split(' ').next() == Some(w))
}

/// The python3-libtorrent version the seeders and the libtorrent rival use.
fn libtorrent_version() -> String {
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
        .output()
        .map_or_else(
            |e| e.to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// libtorrent seeders of `torrent`, one per upload limit (0: unlimited),
/// each announced to the tracker.
fn start_seeders(limits: &[f64], torrent: &Path, seed_dir: &Path) -> Vec<Peer> {
    limits
        .iter()
        .map(|&limit| {
            let extra = if limit > 0.0 {
                vec!["--upload-limit".to_owned(), (limit as u64).to_string()]
            } else {
                Vec::new()
            };
            let mut seeder = libtorrent("seed", torrent, seed_dir, &extra);
            seeder.wait_for_line("announced");
            seeder
        })
        .collect()
}

/// The origin's pace per connection as a fraction of the bitrate: the web
/// seed keeps up to 4 ranges in flight, so the origin alone could sustain
/// about 2x the bitrate.
const ORIGIN_RATE_PER_CONNECTION: f64 = 0.5;

#[test]
#[ignore = "benchmark: cargo test --test streaming_bench origin -- --ignored --nocapture"]
fn origin_benchmark_thin_swarm_with_and_without_a_throttled_origin() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let video = seed_dir.join("film.mp4");
    write_mp4_index_at_end(&video);
    let bytes = std::fs::read(&video).unwrap();
    let layout = mp4_layout(&bytes);
    let bitrate = bytes.len() as f64 / MEDIA_SECS as f64;
    let origin_rate = bitrate * ORIGIN_RATE_PER_CONNECTION;
    let nginx = Nginx::start_throttled(&seed_dir, "", origin_rate);
    println!(
        "media: {} bytes, {:.2} Mbit/s; seeders 4 x 0.2x; nginx paced at {origin_rate:.0} B/s per connection",
        bytes.len(),
        bitrate * 8.0 / 1e6,
    );
    let probe = dir.path().join("probe.torrent");
    create_torrent(&video, &probe, PIECE, &[]);
    let hash = Metainfo::from_bytes(&std::fs::read(&probe).unwrap())
        .unwrap()
        .info_hash;
    let tracker = Opentracker::start(&[hash]);
    // The same info-hash with and without the web seed (url-list lies
    // outside the info dictionary).
    let plain = dir.path().join("film.torrent");
    create_torrent(&video, &plain, PIECE, &[tracker.http_url()]);
    let with_origin = dir.path().join("film-origin.torrent");
    create_torrent_with_web_seeds(
        &video,
        &with_origin,
        PIECE,
        &[tracker.http_url()],
        &[nginx.url("film.mp4")],
    );
    let limits = [0.2 * bitrate; 4];
    let scenario = Scenario {
        name: "4 seeders 0.8x + origin",
        seeder_limits: &limits,
        seek: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for (name, torrent) in [
        ("deadline + origin", &with_origin),
        ("deadline, no origin", &plain),
    ] {
        let run_dir = tempfile::tempdir().unwrap();
        let seeders = start_seeders(scenario.seeder_limits, torrent, &seed_dir);
        let sent_before = nginx.bytes_sent();
        let policy = Policy::Deadline(DeadlineParams::default());
        let result = runtime.block_on(run(
            run_dir.path(),
            torrent,
            &layout,
            bitrate,
            scenario,
            name,
            Contender::Policy(policy),
        ));
        let origin_share = (nginx.bytes_sent() - sent_before) as f64 / bytes.len() as f64;
        print_row(&result);
        println!(
            "    origin share of the file's bytes: {:.1} %",
            origin_share * 100.0
        );
        rows.push((result, origin_share));
        drop(seeders);
    }
    let http = runtime.block_on(plain_http_download(&nginx.url("film.mp4"), &layout));
    println!();
    println!(
        "| run | first frame s | playback start s | stalls | stall s | origin share | full file s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (r, share) in &rows {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.1} % | — |",
            r.policy,
            secs(r.first_frame),
            secs(r.playback_start),
            r.stalls,
            r.stall_secs,
            share * 100.0
        );
    }
    println!(
        "| plain HTTP from nginx | {:.2} | — | — | — | 100 % | {:.2} |",
        http.0, http.1
    );
}

/// A plain HTTP client on the same origin: the time to the first-frame
/// bytes as a player would fetch them (head and `moov` by range, on one
/// connection), then to the whole file (one GET).
async fn plain_http_download(url: &str, layout: &Mp4Layout) -> (f64, f64) {
    let client = reqwest::Client::new();
    let get = |range: Option<(u64, u64)>| {
        let mut request = client.get(url);
        if let Some((start, end)) = range {
            request = request.header("Range", format!("bytes={start}-{}", end - 1));
        }
        async move { request.send().await.unwrap().bytes().await.unwrap().len() }
    };
    let started = Instant::now();
    get(Some((0, 4096))).await;
    get(Some(layout.moov)).await;
    get(Some(layout.head)).await;
    let first_frame = started.elapsed().as_secs_f64();
    let started = Instant::now();
    get(None).await;
    (first_frame, started.elapsed().as_secs_f64())
}

/// A row of the table: a policy of Piecewise's engine or a rival client.
#[derive(Clone, Copy)]
enum Row {
    Policy(&'static str, Policy),
    Rival(Rival),
}

/// What a run measures: Piecewise's engine with a policy, or a rival
/// client's driver, already loaded.
enum Contender {
    Policy(Policy),
    Rival(Driver),
}

async fn run(
    dir: &Path,
    torrent: &Path,
    layout: &Mp4Layout,
    bitrate: f64,
    scenario: Scenario<'_>,
    name: &'static str,
    contender: Contender,
) -> RunResult {
    let run = Run {
        layout,
        bitrate,
        scenario,
        name,
    };
    tracing::info!(scenario = scenario.name, name, "start");
    match contender {
        Contender::Policy(policy) => {
            let started = Instant::now();
            let engine = EngineRun::start(dir, torrent, policy).await;
            run.measure(&engine, started).await
        }
        Contender::Rival(driver) => {
            let started = driver.start();
            run.measure(&driver, started).await
        }
    }
}

/// A client under measurement, read through [`MediaSource`] like the
/// real-time reader reads it.
trait Contestant: MediaSource {
    /// A rival client rather than Piecewise's engine.
    const RIVAL: bool;
    /// Returns once this client's player would start playing from the
    /// beginning.
    async fn wait_for_start(&self, bitrate: f64, started: Instant);
    /// The player seeks: the read heads are forgotten.
    fn seek(&self);
    /// Returns once the whole file is verified.
    async fn wait_complete(&self);
    /// When the first peer connected.
    fn first_peer(&self) -> Option<Instant>;
}

/// Piecewise's engine streaming the torrent's first file.
struct EngineRun {
    _engine: Engine,
    handle: TorrentHandle,
    stream: FileStream,
    first_peer: Arc<OnceLock<Instant>>,
}

impl EngineRun {
    async fn start(dir: &Path, torrent: &Path, policy: Policy) -> EngineRun {
        let mut config = EngineConfig::new(dir.join("download"));
        config.listen_ip = [127, 0, 0, 1].into();
        config.policy = policy;
        let engine = Engine::start(config).await.unwrap();
        // Connection set-up bounds the first frame too: no policy can ask
        // for a byte before the first peer has shaken hands.
        let events = engine.events();
        let first_peer = Arc::new(OnceLock::new());
        let seen = first_peer.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if matches!(event.kind, TorrentEvent::PeerConnected(_)) {
                    let _ = seen.set(Instant::now());
                    return;
                }
            }
        });
        let handle = engine
            .add_torrent(TorrentSource::File(torrent.to_path_buf()))
            .await
            .unwrap();
        let stream = handle.open_stream(0).unwrap();
        EngineRun {
            _engine: engine,
            handle,
            stream,
            first_peer,
        }
    }
}

impl MediaSource for EngineRun {
    async fn read(&self, offset: u64, len: usize) -> anyhow::Result<()> {
        self.stream.read(offset, len).await
    }

    async fn is_available(&self, offset: u64, len: usize) -> bool {
        self.stream.is_available(offset, len)
    }

    fn set_playback(&self, bytes_per_second: f64) {
        self.stream.set_playback(bytes_per_second, true);
    }
}

impl Contestant for EngineRun {
    const RIVAL: bool = false;

    /// The player's own startup rule, asked as the session asks it: at
    /// each change of the torrent's stats or verified pieces, and at least
    /// every tick.
    async fn wait_for_start(&self, bitrate: f64, started: Instant) {
        let mut wake = StartupWake::new(self.handle.stats_watch(), self.handle.verified_pieces());
        wake.wait_until(|| {
            startup_verdict(
                &self.stream,
                0.0,
                bitrate,
                Some(MEDIA_SECS as f64),
                self.handle.stats().download_rate,
                started.elapsed(),
            )
            .allows()
        })
        .await;
    }

    fn seek(&self) {
        self.stream.reset_read_heads();
    }

    async fn wait_complete(&self) {
        let mut stats = self.handle.stats_watch();
        let _ = stats
            .wait_for(|s| s.state == piecewise::engine::events::TorrentState::Seeding)
            .await;
    }

    fn first_peer(&self) -> Option<Instant> {
        self.first_peer.get().copied()
    }
}

impl Contestant for Driver {
    const RIVAL: bool = true;

    /// Rivals have no startup rule: their player starts at once, so
    /// playback starts when the first frame's bytes are readable.
    async fn wait_for_start(&self, _bitrate: f64, _started: Instant) {}

    fn seek(&self) {
        Driver::seek(self);
    }

    async fn wait_complete(&self) {
        if let Err(error) = self.complete().await {
            println!("    {error:#}");
        }
    }

    fn first_peer(&self) -> Option<Instant> {
        Driver::first_peer(self)
    }
}

/// One scenario's measurements of one client.
struct Run<'a> {
    layout: &'a Mp4Layout,
    bitrate: f64,
    scenario: Scenario<'a>,
    name: &'static str,
}

impl Run<'_> {
    async fn measure<C: Contestant>(&self, client: &C, started: Instant) -> RunResult {
        let Run {
            layout,
            bitrate,
            scenario,
            name,
        } = *self;
        let length = layout.length;
        // As qtdemux starts: the first box headers, `moov` at the end, then
        // the first samples.
        let first_frame = async {
            for (start, end) in [(0, 4096), layout.moov, layout.head] {
                if let Err(error) = client.read(start, (end - start) as usize).await {
                    println!("    {name}: {error:#}");
                    return None;
                }
            }
            Some(started.elapsed())
        };
        // Everything before the seek stops at the seek, whatever its state.
        let cut = started
            + if scenario.seek {
                SEEK_AFTER_START
            } else {
                RUN_LIMIT
            };
        let first_frame = tokio::time::timeout_at(cut.into(), first_frame)
            .await
            .ok()
            .flatten();

        let limited: f64 = scenario.seeder_limits.iter().sum();
        let mut stalls = common::realtime::Stalls::default();
        let mut playback_start = None;
        let mut seek_resume = None;
        let mut keyframe_resume = None;
        if first_frame.is_some() {
            // The demuxer now knows the duration: the player sends the
            // bitrate and waits for its startup rule, as the playback
            // session does.
            client.set_playback(bitrate);
            let can_start = client.wait_for_start(bitrate, started);
            if tokio::time::timeout_at(cut.into(), can_start).await.is_ok() {
                playback_start = Some(started.elapsed());
            }
        }
        if playback_start.is_some() {
            // The reader stops early once the rest is there: nothing can
            // stall.
            stalls = play_until(client, 0, length, bitrate, cut).await;
        }
        if scenario.seek {
            tokio::time::sleep_until(cut.into()).await;
            tracing::info!("seek to 50 %");
            client.seek();
            let seeked = Instant::now();
            for ((start, end), resume) in [
                (layout.seek_keyframe, &mut keyframe_resume),
                (layout.seek, &mut seek_resume),
            ] {
                let left = RUN_LIMIT.saturating_sub(started.elapsed());
                let read = client.read(start, (end - start) as usize);
                let resumed = tokio::time::timeout(left, read).await;
                *resume = match resumed {
                    Ok(Ok(())) => Some(seeked.elapsed().as_secs_f64()),
                    _ => None,
                };
                tracing::info!(?resume, "seek read done");
            }
            for (offset, waited) in stalls.offsets.iter().zip(&stalls.durations) {
                println!(
                    "    stall at {:.1} s of media: {:.2} s",
                    *offset as f64 / bitrate,
                    waited.as_secs_f64()
                );
            }
        }

        // Unlimited seeders: the rate is what this run achieved for the
        // file.
        let swarm_rate = if limited > 0.0 {
            limited
        } else {
            let left = RUN_LIMIT.saturating_sub(started.elapsed());
            let _ = tokio::time::timeout(left, client.wait_complete()).await;
            length as f64 / started.elapsed().as_secs_f64()
        };
        let pieces_bytes = |ranges: &[(u64, u64)]| -> f64 {
            let mut pieces: Vec<u64> = ranges
                .iter()
                .flat_map(|&(s, e)| s / u64::from(PIECE)..=(e - 1) / u64::from(PIECE))
                .collect();
            pieces.sort_unstable();
            pieces.dedup();
            (pieces.len() as u64 * u64::from(PIECE)).min(length) as f64
        };
        // Connected long ago unless no peer ever came.
        let set_up = client
            .first_peer()
            .map_or(0.0, |at| (at - started).as_secs_f64());
        let first_frame_limit = pieces_bytes(&[layout.head, layout.moov]) / swarm_rate;
        let seek_limit = scenario
            .seek
            .then(|| pieces_bytes(&[layout.seek]) / swarm_rate);
        let keyframe_limit = scenario
            .seek
            .then(|| pieces_bytes(&[layout.seek_keyframe]) / swarm_rate);
        RunResult {
            scenario: scenario.name,
            policy: name,
            swarm_rate,
            first_frame: first_frame.map(|d| d.as_secs_f64()),
            first_frame_limit,
            set_up,
            playback_start: playback_start.map(|d| d.as_secs_f64()),
            stalls: stalls.count(),
            stall_secs: stalls.total().as_secs_f64(),
            seek_resume,
            seek_limit,
            keyframe_resume,
            keyframe_limit,
            rival: C::RIVAL,
            load: load_average(),
        }
    }
}

/// The 1-minute load average (0 where /proc/loadavg cannot be read).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Encodes the benchmark video with `moov` at the end (faststart off).
/// Snow does not compress, so the stream runs at the encoder's bitrate.
fn write_mp4_index_at_end(path: &Path) {
    piecewise::player::init().expect("GStreamer initialises");
    use gst::prelude::*;
    let frames = MEDIA_SECS as u32 * FPS;
    let samples_per_frame = 48_000 / FPS;
    let description = format!(
        "videotestsrc num-buffers={frames} pattern=snow \
           ! video/x-raw,width=640,height=360,framerate={FPS}/1 ! videoconvert \
           ! x264enc speed-preset=ultrafast pass=cbr bitrate={VIDEO_KBPS} key-int-max={} \
           ! h264parse ! queue ! mux. \
         audiotestsrc num-buffers={frames} samplesperbuffer={samples_per_frame} freq=330 \
           ! audio/x-raw,rate=48000 ! audioconvert ! avenc_aac ! aacparse ! queue ! mux. \
         mp4mux name=mux faststart=false ! filesink location={}",
        2 * FPS,
        path.display()
    );
    let pipeline = gst::parse::launch(&description).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("encoding finished");
    if let gst::MessageView::Error(error) = message.view() {
        panic!("encoding failed: {}", error.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Boxes directly inside `data[range]`: (type, start, end of box).
fn boxes(data: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut found = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let size = match size32 {
            1 => u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize,
            0 => end - at,
            n => n,
        };
        found.push((kind, at, at + size));
        at += size;
    }
    found
}

fn child(data: &[u8], parent: (usize, usize), path: &[&[u8; 4]]) -> Option<(usize, usize)> {
    let mut range = parent;
    for kind in path {
        let (_, s, e) = boxes(data, range.0 + 8, range.1)
            .into_iter()
            .find(|(k, _, _)| k == *kind)?;
        range = (s, e);
    }
    Some(range)
}

fn be32(data: &[u8], at: usize) -> u64 {
    u64::from(u32::from_be_bytes(data[at..at + 4].try_into().unwrap()))
}

/// Finds `moov` and, in the video track's sample tables, the first sample
/// and the keyframe at half the samples.
fn mp4_layout(data: &[u8]) -> Mp4Layout {
    let top = boxes(data, 0, data.len());
    let (_, moov_start, moov_end) = *top.iter().find(|(k, _, _)| k == b"moov").unwrap();
    let moov = (moov_start, moov_end);
    let stbl = boxes(data, moov_start + 8, moov_end)
        .into_iter()
        .filter(|(k, _, _)| k == b"trak")
        .find_map(|(_, s, e)| {
            let hdlr = child(data, (s, e), &[b"mdia", b"hdlr"])?;
            (&data[hdlr.0 + 16..hdlr.0 + 20] == b"vide")
                .then(|| child(data, (s, e), &[b"mdia", b"minf", b"stbl"]))?
        })
        .expect("a video track");
    let table = |kind: &[u8; 4]| child(data, stbl, &[kind]).expect("sample table box").0;
    // stsz: uniform size or one per sample.
    let stsz = table(b"stsz");
    let uniform = be32(data, stsz + 12);
    let count = be32(data, stsz + 16) as usize;
    let sizes: Vec<u64> = (0..count)
        .map(|i| {
            if uniform > 0 {
                uniform
            } else {
                be32(data, stsz + 20 + 4 * i)
            }
        })
        .collect();
    let chunk_offsets: Vec<u64> = match child(data, stbl, &[b"stco"]) {
        Some((s, _)) => (0..be32(data, s + 12) as usize)
            .map(|i| be32(data, s + 16 + 4 * i))
            .collect(),
        None => {
            let s = table(b"co64");
            (0..be32(data, s + 12) as usize)
                .map(|i| be32(data, s + 16 + 8 * i) << 32 | be32(data, s + 20 + 8 * i))
                .collect()
        }
    };
    // stsc: runs of chunks with the same samples per chunk.
    let stsc = table(b"stsc");
    let runs: Vec<(usize, usize)> = (0..be32(data, stsc + 12) as usize)
        .map(|i| {
            let at = stsc + 16 + 12 * i;
            (be32(data, at) as usize - 1, be32(data, at + 4) as usize)
        })
        .collect();
    let mut offsets = Vec::with_capacity(count);
    for (chunk, &chunk_offset) in chunk_offsets.iter().enumerate() {
        let per_chunk = runs
            .iter()
            .rev()
            .find(|(first, _)| *first <= chunk)
            .map_or(1, |r| r.1);
        let mut at = chunk_offset;
        for _ in 0..per_chunk {
            if offsets.len() == count {
                break;
            }
            offsets.push(at);
            at += sizes[offsets.len() - 1];
        }
    }
    // stss numbers keyframes from 1. The frame at 50 % may be a keyframe
    // itself; the frame before the next keyframe needs the whole interval.
    let stss = table(b"stss");
    let keyframes: Vec<usize> = (0..be32(data, stss + 12) as usize)
        .map(|i| be32(data, stss + 16 + 4 * i) as usize - 1)
        .collect();
    let half = count / 2;
    let keyframe = *keyframes
        .iter()
        .filter(|&&k| k <= half)
        .max()
        .expect("a keyframe");
    let target = keyframes
        .iter()
        .find(|&&k| k > half)
        .map_or(count - 1, |&next| next - 1);
    Mp4Layout {
        length: data.len() as u64,
        moov: (moov.0 as u64, moov.1 as u64),
        head: (0, offsets[0] + sizes[0]),
        seek: (offsets[keyframe], offsets[target] + sizes[target]),
        seek_keyframe: (offsets[keyframe], offsets[keyframe] + sizes[keyframe]),
    }
}

fn secs(value: Option<f64>) -> String {
    value.map_or("—".to_owned(), |v| format!("{v:.2}"))
}

impl RunResult {
    fn first_frame_ratio(&self) -> Option<f64> {
        self.first_frame.map(|f| f / self.first_frame_limit)
    }

    /// Against the design's limit: set-up plus the pieces at the rate.
    fn first_frame_ratio_with_set_up(&self) -> Option<f64> {
        self.first_frame
            .map(|f| f / (self.set_up + self.first_frame_limit))
    }

    fn seek_ratio(&self) -> Option<f64> {
        self.seek_resume.zip(self.seek_limit).map(|(s, l)| s / l)
    }

    fn keyframe_ratio(&self) -> Option<f64> {
        self.keyframe_resume
            .zip(self.keyframe_limit)
            .map(|(s, l)| s / l)
    }
}

/// Printed as each run ends, so a long benchmark shows its progress.
fn print_row(r: &RunResult) {
    println!("{}", table_row(r));
}

fn print_table(results: &[RunResult]) {
    println!();
    println!(
        "| scenario | policy or rival | swarm KB/s | first frame s | limit s | ratio | set-up s | ratio with set-up | start s | stalls | stall s | seek keyframe s | limit s | ratio | seek exact frame s | limit s | ratio | load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        println!("{}", table_row(r));
    }
}

fn table_row(r: &RunResult) -> String {
    format!(
        "| {} | {} | {:.0} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {:.1} |",
        r.scenario,
        r.policy,
        r.swarm_rate / 1000.0,
        secs(r.first_frame),
        r.first_frame_limit,
        secs(r.first_frame_ratio()),
        r.set_up,
        secs(r.first_frame_ratio_with_set_up()),
        secs(r.playback_start),
        r.stalls,
        r.stall_secs,
        secs(r.keyframe_resume),
        secs(r.keyframe_limit),
        secs(r.keyframe_ratio()),
        secs(r.seek_resume),
        secs(r.seek_limit),
        secs(r.seek_ratio()),
        r.load,
    )
}

fn write_json(results: &[RunResult], media_bytes: u64, bitrate: f64) {
    let runs: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.scenario,
                "policy": r.policy,
                "rival": r.rival,
                "load_average": r.load,
                "swarm_bytes_per_second": r.swarm_rate,
                "first_frame_secs": r.first_frame,
                "first_frame_limit_secs": r.first_frame_limit,
                "set_up_secs": r.set_up,
                "first_frame_ratio": r.first_frame_ratio(),
                "first_frame_ratio_with_set_up": r.first_frame_ratio_with_set_up(),
                "playback_start_secs": r.playback_start,
                "stalls": r.stalls,
                "stall_secs": r.stall_secs,
                "seek_resume_secs": r.seek_resume,
                "seek_resume_limit_secs": r.seek_limit,
                "seek_resume_ratio": r.seek_ratio(),
                "seek_keyframe_secs": r.keyframe_resume,
                "seek_keyframe_limit_secs": r.keyframe_limit,
                "seek_keyframe_ratio": r.keyframe_ratio(),
            })
        })
        .collect();
    let report = serde_json::json!({
        "media_bytes": media_bytes,
        "media_bytes_per_second": bitrate,
        "piece_length": PIECE,
        "runs": runs,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("streaming.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", path.display());
}
