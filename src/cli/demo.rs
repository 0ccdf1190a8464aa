//! `piecewise demo`: a real swarm on this machine. Generates the demo video
//! (once, cached), makes its torrent, starts `DEMO_SEEDERS` `piecewise seed`
//! processes on 127.0.0.1, rate-limited so that buffering shows, and opens
//! the window on a magnet link that names them (`x.pe`): no tracker, no DHT.
//! The seeders stop when the window closes, and die with the demo if it is
//! killed.

use crate::engine::create::{CreateOptions, create_torrent};
use crate::player::sample::{SampleFormat, SampleVideo};
use anyhow::{Context, bail};
use std::io::BufRead;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The demo video: 2 minutes of a scrolling test pattern with a tone, about
/// 2 Mbit/s (x264's default bitrate), long enough to watch it stream; it
/// encodes in about 10 s.
const DEMO_VIDEO: SampleVideo = SampleVideo {
    format: SampleFormat::Mp4H264Aac,
    width: 640,
    height: 360,
    fps: 25,
    frames: 3000,
};

/// Local seeders, each its own `piecewise seed` process.
const DEMO_SEEDERS: usize = 3;

/// The seeders' upload limits add up to this multiple of the video's
/// bitrate: enough to play without stalls, little enough that the
/// buffering and the rate charts show something.
const SWARM_RATE_PER_BITRATE: f64 = 1.4;

/// How long the seeders may take to start and verify their data.
const SEEDER_START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Generate the demo video again even if it is cached.
    #[arg(long)]
    pub regenerate: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let video = cached_demo_video(args.regenerate)?;
    // The torrent and the window's download live only as long as the demo:
    // a leftover complete download would play without streaming next time.
    let run_dir = gst::glib::mkdtemp(std::env::temp_dir().join("piecewise-demo-XXXXXX"))
        .context("cannot create a temporary folder for the demo")?;
    let result = run_swarm(&video, &run_dir);
    if let Err(error) = std::fs::remove_dir_all(&run_dir) {
        tracing::warn!(%error, dir = %run_dir.display(), "cannot remove the demo's folder");
    }
    result
}

fn run_swarm(video: &Path, run_dir: &Path) -> anyhow::Result<ExitCode> {
    let metainfo = create_torrent(video, &CreateOptions::default())
        .context("cannot create the demo torrent")?;
    let torrent = run_dir.join("demo.torrent");
    std::fs::write(&torrent, metainfo.to_bytes())
        .with_context(|| format!("cannot write {}", torrent.display()))?;
    let data_dir = video.parent().context("the demo video has no folder")?;

    let bytes_per_second = metainfo.info.total_length as f64
        / (f64::from(DEMO_VIDEO.frames) / f64::from(DEMO_VIDEO.fps));
    let upload_limit = (bytes_per_second * SWARM_RATE_PER_BITRATE / DEMO_SEEDERS as f64) as u64;
    let program = std::env::current_exe().context("cannot find the piecewise program")?;
    let deadline = Instant::now() + SEEDER_START_TIMEOUT;
    let mut seeders = Vec::with_capacity(DEMO_SEEDERS);
    for _ in 0..DEMO_SEEDERS {
        seeders.push(Seeder::start(
            &program,
            &torrent,
            data_dir,
            upload_limit,
            deadline,
        )?);
    }
    for seeder in &mut seeders {
        seeder.wait_until_seeding(deadline)?;
    }

    let mut magnet = metainfo.magnet();
    magnet.peers = seeders.iter().map(|seeder| seeder.addr).collect();
    let code = crate::application::run(Some(magnet.to_uri()), Some(run_dir.join("download")));
    drop(seeders);
    Ok(code.into())
}

/// One `piecewise seed` child process; dropping it kills it.
struct Seeder {
    child: Child,
    addr: SocketAddr,
    /// The child's stdout, line by line ("listening on …", "seeding …").
    lines: mpsc::Receiver<String>,
}

impl Seeder {
    /// Starts the process and waits until it says where it listens.
    fn start(
        program: &Path,
        torrent: &Path,
        data_dir: &Path,
        upload_limit: u64,
        deadline: Instant,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(program);
        command
            // The demo swarm is loopback only: no public DHT.
            .args([
                "seed",
                "--listen-ip",
                "127.0.0.1",
                "--no-dht",
                "--upload-limit",
            ])
            .arg(upload_limit.to_string())
            .arg("--download-dir")
            .arg(data_dir)
            .arg(torrent)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its progress line would clutter the demo's terminal.
            .stderr(Stdio::null());
        let parent = std::process::id();
        // SAFETY: runs in the child between fork and exec, and calls only
        // the async-signal-safe prctl(2) and getppid(2).
        unsafe {
            command.pre_exec(move || die_with_parent(parent));
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().context("seeder without stdout")?;
        let (sender, lines) = mpsc::channel();
        // Read to the end so the seeder never blocks or fails on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                tracing::debug!(%line, "demo seeder");
                let _ = sender.send(line);
            }
        });
        let mut seeder = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        let line = seeder.wait_for_line("listening on ", deadline)?;
        seeder.addr = line
            .trim_start_matches("listening on ")
            .parse()
            .with_context(|| format!("seeder printed an unexpected address: {line}"))?;
        tracing::info!(pid = seeder.child.id(), addr = %seeder.addr, upload_limit, "demo seeder started");
        Ok(seeder)
    }

    fn wait_until_seeding(&mut self, deadline: Instant) -> anyhow::Result<()> {
        self.wait_for_line("seeding ", deadline).map(|_| ())
    }

    fn wait_for_line(&mut self, prefix: &str, deadline: Instant) -> anyhow::Result<String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("a demo seeder did not get ready in time")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!("a demo seeder stopped ({status}); run `piecewise demo --regenerate`")
                }
            }
        }
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::info!(pid = self.child.id(), "demo seeder stopped");
    }
}

/// In the seeder, between fork and exec: the kernel kills it when the demo
/// dies, even by SIGKILL, so no seeder outlives the window.
fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and no pointers.
    let result = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The demo may have died before the prctl took effect.
    // SAFETY: getppid has no arguments and cannot fail.
    if unsafe { libc::getppid() } as u32 != parent {
        return Err(std::io::Error::other("the demo stopped"));
    }
    Ok(())
}

/// Generates the demo video once, under the user's cache directory; the
/// seeders serve it from there.
fn cached_demo_video(regenerate: bool) -> anyhow::Result<PathBuf> {
    crate::player::init().context("cannot initialise GStreamer")?;
    let dir = gst::glib::user_cache_dir().join("piecewise");
    // The name changes with the video's parameters so an old cache is not reused.
    let path = dir.join(format!(
        "demo-{}x{}-{}f.{}",
        DEMO_VIDEO.width,
        DEMO_VIDEO.height,
        DEMO_VIDEO.frames,
        DEMO_VIDEO.format.extension()
    ));
    if regenerate || !path.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        tracing::info!(path = %path.display(), "generating the demo video");
        DEMO_VIDEO
            .write(&path)
            .context("cannot generate the demo video")?;
    }
    Ok(path)
}
