//! Helpers shared by the integration tests.
#![allow(dead_code)] // Each test binary uses its own subset.

pub mod dht;
pub mod engine;
pub mod nginx;
pub mod opentracker;
pub mod peers;
pub mod realtime;
pub mod rivals;
pub mod swarm;
pub mod throttle;
pub mod tls;

use piecewise::player::sample::{SampleFormat, SampleVideo};
use piecewise::stats::schema::Run;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The test videos: 10 s at 25 fps, small so they encode in a second or two.
pub const TEN_SECONDS: u32 = 250;

pub fn ten_second_video(format: SampleFormat) -> SampleVideo {
    SampleVideo {
        format,
        width: 320,
        height: 240,
        fps: 25,
        frames: TEN_SECONDS,
    }
}

/// Writes `video` into `dir` and returns its path.
pub fn write_video(dir: &Path, video: SampleVideo) -> PathBuf {
    piecewise::player::init().expect("GStreamer initialises");
    let path = dir.join(format!("sample.{}", video.format.extension()));
    video.write(&path).expect("the sample video encodes");
    path
}

/// Writes a 10 s Matroska video with two audio tracks tagged English and
/// French (440 Hz and 880 Hz tones) as `dir/name`; returns its path.
pub fn write_two_language_video(dir: &Path, name: &str) -> PathBuf {
    use gst::prelude::*;
    piecewise::player::init().expect("GStreamer initialises");
    let path = dir.join(name);
    let audio = |freq: u32, language: &str| {
        format!(
            "audiotestsrc num-buffers=431 freq={freq} ! audioconvert ! vorbisenc \
             ! taginject tags=\"language-code={language}\" ! queue ! mux. "
        )
    };
    let description = format!(
        "matroskamux name=mux ! filesink location=\"{}\" \
         videotestsrc num-buffers={TEN_SECONDS} pattern=smpte \
         ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! x264enc speed-preset=ultrafast key-int-max=25 ! h264parse ! queue ! mux. {}{}",
        path.display(),
        audio(440, "eng"),
        audio(880, "fra"),
    );
    let pipeline = gst::parse::launch(&description).expect("the muxing pipeline builds");
    pipeline
        .set_state(gst::State::Playing)
        .expect("the muxing pipeline starts");
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let end = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(120),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline
        .set_state(gst::State::Null)
        .expect("the muxing pipeline stops");
    match end.as_ref().map(|message| message.view()) {
        Some(gst::MessageView::Eos(_)) => path,
        other => panic!("muxing the two-language video failed: {other:?}"),
    }
}

pub fn file_uri(path: &Path) -> String {
    gst::glib::filename_to_uri(path, None)
        .expect("absolute path")
        .to_string()
}

/// Longest a headless run may take before the test calls it a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `piecewise play --headless` with `extra` arguments; kills it after
/// `RUN_TIMEOUT`.
pub fn play_headless(
    dir: &Path,
    torrent: &Path,
    peers: &[String],
    extra: &[&str],
) -> (Output, Option<Run>) {
    let stats = dir.join("stats.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecewise"));
    command
        .args(["play", "--headless", "--listen-ip", "127.0.0.1", "--no-dht"])
        .arg("--download-dir")
        .arg(dir.join("download"))
        .arg("--stats-json")
        .arg(&stats)
        .args(extra);
    let output = run_on_torrent(command, peers, torrent, RUN_TIMEOUT);
    let run = std::fs::read_to_string(&stats)
        .ok()
        .map(|json| serde_json::from_str(&json).expect("stats JSON follows the schema"));
    (output, run)
}

/// Runs a `piecewise` `command` on `torrent` with `--peer` for each of
/// `peers` to its end (killed after `timeout`), prints its stderr and
/// returns its output.
pub fn run_on_torrent(
    mut command: Command,
    peers: &[String],
    torrent: &Path,
    timeout: Duration,
) -> Output {
    for peer in peers {
        command.arg("--peer").arg(peer);
    }
    let child = command
        .arg(torrent)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_or_kill(child, timeout, "piecewise");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Waits for `child` to exit and returns what it printed; kills it and
/// fails the test (naming it `what`) after `timeout`. Its output must be
/// small enough for the pipes while it runs.
pub fn wait_or_kill(mut child: Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Where tests keep files worth looking at after a run (screenshots).
/// How many pixels of two screenshots differ (ImageMagick `compare -metric AE`).
pub fn differing_pixels(a: &Path, b: &Path) -> f64 {
    let compare = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("compare runs");
    String::from_utf8_lossy(&compare.stderr)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

pub fn artifact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// A private X server and D-Bus session bus, so GUI tests run in parallel
/// (the app is single-instance per bus) with or without an outer display.
pub struct Desktop {
    pub display: String,
    pub bus_address: String,
    xvfb: Child,
    bus: Child,
    /// The bus's XDG_RUNTIME_DIR: the accessibility bus it starts for the
    /// app puts its socket there, apart from other tests' desktops.
    runtime_dir: tempfile::TempDir,
}

impl Desktop {
    pub fn start() -> Self {
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (package xvfb)");
        let display = format!(":{}", first_line(xvfb.stdout.take().expect("stdout")));
        let runtime_dir = tempfile::tempdir().expect("runtime folder");
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .env("XDG_RUNTIME_DIR", runtime_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs");
        let bus_address = first_line(bus.stdout.take().expect("stdout"));
        Self {
            display,
            bus_address,
            xvfb,
            bus,
            runtime_dir,
        }
    }

    /// Starts the real `piecewise` binary on this desktop.
    pub fn launch(&self, args: &[&std::ffi::OsStr]) -> App {
        self.launch_with_env(args, &[])
    }

    /// Opens `torrent` in the window with `home` as its home and config
    /// folder, so the download goes to `home/Downloads`.
    pub fn launch_at_home(&self, torrent: &Path, home: &Path) -> App {
        let env = [("HOME", home), ("XDG_CONFIG_HOME", home)];
        self.launch_with_env(&[torrent.as_os_str()], &env)
    }

    /// Opens `argument` (a torrent or magnet link) like `launch_at_home`,
    /// with the settings kept in a file below `home` instead of in memory,
    /// so that they outlive the process.
    pub fn launch_at_home_keeping_settings(&self, argument: &OsStr, home: &Path) -> App {
        let env = [
            ("HOME", home),
            ("XDG_CONFIG_HOME", home),
            ("GSETTINGS_BACKEND", Path::new("keyfile")),
        ];
        self.launch_with_env(&[argument], &env)
    }

    /// Like `launch`, with extra environment variables.
    pub fn launch_with_env(&self, args: &[&std::ffi::OsStr], env: &[(&str, &Path)]) -> App {
        self.launch_wrapped(&[], args, env)
    }

    /// Like `launch_with_env`, through `wrapper` (a command that runs the
    /// rest of its arguments, such as `unshare`; it must exec, so that the
    /// app's pid is the child's).
    pub fn launch_wrapped(
        &self,
        wrapper: &[&std::ffi::OsStr],
        args: &[&std::ffi::OsStr],
        env: &[(&str, &Path)],
    ) -> App {
        let piecewise = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_piecewise"));
        let mut command_line = wrapper.iter().chain([&piecewise]).chain(args);
        let mut child = Command::new(command_line.next().expect("a program"))
            .args(command_line)
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
            // The tests match English sentences; po/ has translations.
            .env("LC_ALL", "C.UTF-8")
            .env("RUST_LOG", "warn,piecewise=info")
            // Settings live and die with the process, never in the user's dconf.
            .env("GSETTINGS_BACKEND", "memory")
            // Never the public DHT routers.
            .env("PIECEWISE_DHT_BOOTSTRAP", "off")
            // The caller's own, last: a test may keep settings in a file.
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("piecewise starts");
        let stderr = child.stderr.take().expect("stderr");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("piecewise: {line}");
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        App {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Activates an action the app exports on this desktop's bus (as
    /// `org.gtk.Actions`); `parameter` is GVariant text, e.g. `<5.0>`.
    pub fn activate(&self, object_path: &str, action: &str, parameter: Option<&str>) {
        let parameters = parameter.map_or_else(|| "[]".to_owned(), |p| format!("[{p}]"));
        self.call_actions(
            object_path,
            "Activate",
            &[action, parameters.as_str(), "{}"],
        );
    }

    /// Whether an action the app exports on this desktop's bus is enabled.
    pub fn action_enabled(&self, object_path: &str, action: &str) -> bool {
        let reply = self.call_actions(object_path, "Describe", &[action]);
        // The reply is `((enabled, 'signature', [state]),)`.
        reply.trim_start_matches(['(', ' ']).starts_with("true")
    }

    /// Calls `org.gtk.Actions.METHOD` with `args`; returns the reply.
    fn call_actions(&self, object_path: &str, method: &str, args: &[&str]) -> String {
        let output = Command::new("gdbus")
            .args([
                "call",
                "--session",
                "--dest",
                "io.github.piecewise.Piecewise",
            ])
            .args(["--object-path", object_path])
            .args(["--method", &format!("org.gtk.Actions.{method}")])
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .output()
            .expect("gdbus runs (package libglib2.0-bin)");
        assert!(
            output.status.success(),
            "{method} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The state of an action the app exports on this desktop's bus, as
    /// GVariant text (`<1>`).
    pub fn action_state(&self, object_path: &str, action: &str) -> String {
        // ((true, 'i', [<1>]),): enabled, parameter type, state.
        let description = self.call_actions(object_path, "Describe", &[action]);
        description
            .rsplit_once('[')
            .and_then(|(_, state)| state.split_once(']'))
            .map(|(state, _)| state.trim().to_owned())
            .unwrap_or_else(|| panic!("no state in {description}"))
    }

    /// Clicks the first mouse button at `x`, `y` of the screen.
    pub fn click(&self, x: u32, y: u32) {
        let status = Command::new("xdotool")
            .args(["mousemove", &x.to_string(), &y.to_string(), "click", "1"])
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool runs (package xdotool)");
        assert!(status.success(), "xdotool failed");
    }

    /// The centre on the screen of the widget of the app's window with
    /// accessible `role` and `name`, found in its accessibility tree
    /// (tests/common/a11y.py) once it shows, within `timeout`.
    pub fn widget_centre(&self, role: &str, name: &str, timeout: Duration) -> (u32, u32) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(centre) = self.showing_widget_centre(role, name) {
                return centre;
            }
            assert!(
                Instant::now() < deadline,
                "no {role} {name:?} showing in the accessibility tree"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn showing_widget_centre(&self, role: &str, name: &str) -> Option<(u32, u32)> {
        let output = Command::new("/usr/bin/python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/a11y.py"))
            .args([role, name])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .output()
            .expect("python3 runs (package python3-gi)");
        if !output.status.success() {
            return None;
        }
        let numbers: Vec<i64> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(|number| number.parse().expect("a number"))
            .collect();
        let [x, y, width, height, window_width, window_height] = numbers[..] else {
            panic!("a11y.py printed {numbers:?}");
        };
        // GTK 4 knows only window coordinates: X places the window. Its X
        // window holds the GTK window and the client-side border, the same
        // on every side without a compositor.
        let (left, top, x_width, x_height) = self.x_window_geometry("Piecewise");
        let left = left + (x_width - window_width) / 2;
        let top = top + (x_height - window_height) / 2;
        let centre = |start: i64, offset: i64, size: i64| {
            u32::try_from(start + offset + size / 2).expect("on the screen")
        };
        Some((centre(left, x, width), centre(top, y, height)))
    }

    /// Left, top, width and height of the X window titled `title`.
    fn x_window_geometry(&self, title: &str) -> (i64, i64, i64, i64) {
        let output = Command::new("xwininfo")
            .args(["-name", title])
            .env("DISPLAY", &self.display)
            .output()
            .expect("xwininfo runs (package x11-utils)");
        let info = String::from_utf8_lossy(&output.stdout);
        let field = |label: &str| -> i64 {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(label))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {label} in xwininfo's {info}"))
        };
        (
            field("Absolute upper-left X:"),
            field("Absolute upper-left Y:"),
            field("Width:"),
            field("Height:"),
        )
    }

    /// Saves a PNG of the whole screen.
    pub fn screenshot(&self, path: &Path) {
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(path)
            .status()
            .expect("import runs (package imagemagick)");
        assert!(status.success(), "screenshot failed");
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in [&mut self.bus, &mut self.xvfb] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn first_line(stdout: std::process::ChildStdout) -> String {
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read first line");
    line.trim().to_owned()
}

/// A running `piecewise` process and what it logged.
pub struct App {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl App {
    /// Waits for a stderr line containing `needle`; returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} in {timeout:?}; log: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// Waits for the process to exit by itself (a second instance hands
    /// its arguments to the first and leaves).
    pub fn wait_for_exit(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "piecewise did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.log.extend(self.lines.try_iter());
        (status, std::mem::take(&mut self.log))
    }

    /// Sends SIGTERM and returns the exit status and the rest of the log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with a pid we spawned and still own.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "piecewise ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.log.extend(self.lines.try_iter());
        (status, std::mem::take(&mut self.log))
    }
}

impl App {
    /// Kills the process with SIGKILL, as a crash or `kill -9` would.
    pub fn kill(mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end with stdout and stderr captured; kills it and
/// panics after `timeout`.
pub fn output_within(command: &mut Command, timeout: Duration) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    wait_output_within(child, timeout)
}

/// Runs `gst-launch` (a `gst-launch-1.0` command, its environment set)
/// with `playbin uri=URI` into fake sinks, and asserts it plays to EOS
/// within `timeout`.
pub fn playbin_plays_to_eos(gst_launch: &mut Command, uri: &str, timeout: Duration) {
    gst_launch.args([
        "playbin",
        &format!("uri={uri}"),
        "video-sink=fakesink",
        "audio-sink=fakesink",
    ]);
    let output = output_within(gst_launch, timeout);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "gst-launch failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("EOS"), "{stdout}");
}

/// Waits for `child` (stdout and stderr piped) to end; kills it and panics
/// after `timeout`. The pipes are drained meanwhile, so a chatty child
/// never blocks on a full pipe.
pub fn wait_output_within(child: Child, timeout: Duration) -> std::process::Output {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(timeout) {
        Ok(output) => output.expect("the command's output"),
        Err(_) => {
            // SAFETY: kill(2) with a pid we spawned; it is not reaped yet,
            // since the waiting thread has not returned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the command did not finish within {timeout:?}");
        }
    }
}
