//! The window's start page, preferences, open requests and playback
//! actions, driven like a desktop would: a private X server and D-Bus
//! session, a second `piecewise` process, and the window's actions called
//! over D-Bus (`org.gtk.Actions`, which is how GTK exports them).

mod common;

use common::peers::{create_torrent, write_data};
use common::swarm::{PIECE, TrackedSwarm, peer_magnet, seed};
use common::{
    App, Desktop, artifact_dir, differing_pixels, ten_second_video, write_two_language_video,
    write_video,
};
use piecewise::player::sample::{SampleFormat, SampleVideo};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Start-up of GTK and GStreamer on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A state change or an action's effect on a loaded machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

const APP_PATH: &str = "/io/github/piecewise/Piecewise";
const WINDOW_PATH: &str = "/io/github/piecewise/Piecewise/window/1";

const MAGNET: &str = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Sintel";

/// Activates an exported action; `parameter` is GVariant text, e.g. `<5.0>`.
fn activate(desktop: &Desktop, object_path: &str, action: &str, parameter: Option<&str>) {
    desktop.activate(object_path, action, parameter);
}

fn launch_start_page(desktop: &Desktop) -> App {
    let mut app = desktop.launch(&[]);
    app.wait_for_line("window presented", START_TIMEOUT);
    app
}

fn distinct_colours(screenshot: &Path) -> u32 {
    let output = Command::new("convert")
        .arg(screenshot)
        .args(["-crop", "960x600+0+0", "+repage", "-format", "%k", "info:-"])
        .output()
        .expect("convert runs (package imagemagick)");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Screenshots until the picture settles on something drawn (more colours
/// than an empty screen) and differs from `previous`.
fn settled_screenshot(
    desktop: &Desktop,
    name: &str,
    previous: Option<&Path>,
) -> std::path::PathBuf {
    let path = artifact_dir().join(name);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        desktop.screenshot(&path);
        let drawn = distinct_colours(&path) > 16;
        let changed = previous.is_none_or(|previous| differing_pixels(previous, &path) > 1000.0);
        if drawn && changed {
            // One more frame for animations (the status page, the dialog).
            std::thread::sleep(Duration::from_millis(500));
            desktop.screenshot(&path);
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "nothing new drawn; see {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_clean_exit(app: App) {
    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(
        !log.iter().any(|line| line.contains("panicked")),
        "{log:#?}"
    );
}

#[test]
fn start_page_and_preferences_window_are_drawn() {
    let desktop = Desktop::start();
    let app = launch_start_page(&desktop);
    let start = settled_screenshot(&desktop, "window-start-page.png", None);
    activate(&desktop, APP_PATH, "preferences", None);
    settled_screenshot(&desktop, "window-preferences.png", Some(&start));
    assert_clean_exit(app);
}

#[test]
fn second_instance_open_reaches_the_first_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let torrent = dir.path().join("My Show.torrent");
    std::fs::write(&torrent, b"d4:infod4:name4:showee").expect("write");
    let desktop = Desktop::start();
    let mut first = launch_start_page(&desktop);

    for argument in [torrent.as_os_str(), OsStr::new(MAGNET)] {
        let started = Instant::now();
        let second = desktop.launch(&[argument]);
        let (status, log) = second.wait_for_exit(STEP_TIMEOUT);
        assert!(status.success(), "second instance: {status}, {log:#?}");
        assert!(
            !log.iter().any(|line| line.contains("opening")),
            "the second instance opened it itself: {log:#?}"
        );
        let line = first.wait_for_line("opening torrent", STEP_TIMEOUT);
        let expected = if argument == OsStr::new(MAGNET) {
            MAGNET.to_owned()
        } else {
            torrent.display().to_string()
        };
        assert!(line.contains(&expected), "{line}");
        // Unlike the demo's magnet (tests/gui.rs), these are remembered
        // (a torrent by its file URI).
        let line = first.wait_for_line("remembered among the recent torrents", STEP_TIMEOUT);
        let entry = if argument == OsStr::new(MAGNET) {
            MAGNET
        } else {
            "My%20Show.torrent"
        };
        assert!(line.contains(entry), "{line}");
        eprintln!("second instance handed over in {:?}", started.elapsed());
    }
    assert_clean_exit(first);
}

#[test]
fn dropped_or_pasted_text_opens_magnets_and_rejects_junk_with_a_toast() {
    let desktop = Desktop::start();
    let mut app = launch_start_page(&desktop);

    activate(
        &desktop,
        WINDOW_PATH,
        "open-text",
        Some("<'shopping list'>"),
    );
    let toast = app.wait_for_line("toast:", STEP_TIMEOUT);
    assert!(
        toast.contains("That is neither a magnet link nor a torrent file"),
        "{toast}"
    );
    activate(
        &desktop,
        WINDOW_PATH,
        "open-text",
        Some("<'magnet:?xt=urn:btih:nothex'>"),
    );
    let toast = app.wait_for_line("toast:", STEP_TIMEOUT);
    assert!(
        toast.contains("That link is not a magnet link: the info-hash"),
        "{toast}"
    );
    // A browser's text/uri-list, CRLF and all.
    let uri_list = format!("<'# from a web page\\r\\n{MAGNET}\\r\\n'>");
    activate(&desktop, WINDOW_PATH, "open-text", Some(&uri_list));
    let line = app.wait_for_line("opening torrent", STEP_TIMEOUT);
    assert!(line.contains(MAGNET), "{line}");
    settled_screenshot(&desktop, "window-opening.png", None);
    assert_clean_exit(app);
}

#[test]
fn play_pause_and_seek_actions_change_the_player_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = write_video(dir.path(), ten_second_video(SampleFormat::Mp4H264Aac));
    let desktop = Desktop::start();
    let mut app = desktop.launch(&[video.as_os_str()]);
    // Suspend is inhibited as playback starts, in the same state change.
    app.wait_for_line("inhibited idle and suspend", START_TIMEOUT);
    app.wait_for_line("playback started", STEP_TIMEOUT);

    activate(&desktop, WINDOW_PATH, "play-pause", None);
    app.wait_for_line("state=Paused", STEP_TIMEOUT);
    app.wait_for_line("released idle and suspend", STEP_TIMEOUT);
    activate(&desktop, WINDOW_PATH, "seek", Some("<6.0>"));
    app.wait_for_line("state=Seeking", STEP_TIMEOUT);
    // A seek while paused settles paused.
    app.wait_for_line("state=Paused", STEP_TIMEOUT);
    activate(&desktop, WINDOW_PATH, "play-pause", None);
    app.wait_for_line("state=Playing", STEP_TIMEOUT);
    activate(&desktop, WINDOW_PATH, "seek-by", Some("<-10.0>"));
    app.wait_for_line("state=Seeking", STEP_TIMEOUT);
    app.wait_for_line("state=Playing", STEP_TIMEOUT);
    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    let seek_at = log
        .iter()
        .rposition(|line| line.contains("state=Seeking"))
        .expect("a seek");
    let quit_at = log
        .iter()
        .position(|line| line.contains("quitting on signal"))
        .expect("the quit");
    assert!(
        !log[seek_at..quit_at]
            .iter()
            .any(|line| line.contains("released idle")),
        "a seek while playing released the inhibition: {log:#?}"
    );
}

#[test]
fn torrent_from_the_command_line_plays_in_the_window_from_libtorrent_seeders() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Rate-limited, so that the window shows buffering before playing.
    let swarm = TrackedSwarm::start(dir.path(), 400_000);

    let desktop = Desktop::start();
    // The download goes to $HOME/Downloads: the temporary folder.
    let home = dir.path().join("home");
    let mut app = desktop.launch_at_home(&swarm.torrent, &home);
    app.wait_for_line("opening torrent", START_TIMEOUT);
    app.wait_for_line("playback started", START_TIMEOUT);
    let screenshot = settled_screenshot(&desktop, "window-torrent-playing.png", None);
    assert!(
        distinct_colours(&screenshot) > 256,
        "no video frame on screen; see {}",
        screenshot.display()
    );
    activate(&desktop, WINDOW_PATH, "play-pause", None);
    app.wait_for_line("state=Paused", STEP_TIMEOUT);
    assert!(
        home.join("Downloads").join("sample.mp4").exists(),
        "the download is not in the download folder"
    );
    assert_clean_exit(app);
}

#[test]
fn damaged_torrent_and_bare_magnet_show_plain_sentences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let torrent = dir.path().join("damaged.torrent");
    std::fs::write(&torrent, b"d8:announce3:abce").expect("write");
    let desktop = Desktop::start();
    let mut app = desktop.launch(&[torrent.as_os_str()]);
    let line = app.wait_for_line("showing error", START_TIMEOUT);
    assert!(line.contains("That file is not a valid torrent"), "{line}");
    // A magnet with no tracker and no peer: nobody to ask.
    activate(
        &desktop,
        WINDOW_PATH,
        "open-text",
        Some(&format!("<'{MAGNET}'>")),
    );
    let line = app.wait_for_line("showing error", STEP_TIMEOUT);
    assert!(line.contains("nobody to ask for the video"), "{line}");
    assert_clean_exit(app);
}

/// A 320×240 H.264/AAC clip of `seconds` at `path`.
fn write_clip(path: &Path, seconds: u32) {
    piecewise::player::init().expect("GStreamer initialises");
    SampleVideo {
        frames: seconds * 25,
        ..ten_second_video(SampleFormat::Mp4H264Aac)
    }
    .write(path)
    .expect("the clip encodes");
}

#[test]
fn multi_file_torrent_offers_its_videos_and_the_following_episode_plays_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let series = dir.path().join("seed").join("Series");
    std::fs::create_dir_all(&series).expect("folder");
    // In natural order 9 comes before 10 (in byte order it would not), and
    // episode 9 is the larger file.
    write_clip(&series.join("Episode 9.mp4"), 10);
    write_clip(&series.join("Episode 10.mp4"), 3);
    write_clip(&series.join("Episode 11.mp4"), 2);
    write_data(&series.join("notes.txt"), 400_000, 7);
    let (_seeder, magnet) = seeded_magnet(&series, &dir.path().join("series.torrent"));

    let desktop = Desktop::start();
    let home = dir.path().join("home");
    let mut app = desktop.launch_at_home_keeping_settings(OsStr::new(&magnet), &home);
    let line = app.wait_for_line("choosing a video", START_TIMEOUT);
    assert!(
        line.contains(
            r#"names=["Series/Episode 9.mp4", "Series/Episode 10.mp4", "Series/Episode 11.mp4"]"#
        ) && line.contains(r#"selected=Some("Series/Episode 9.mp4")"#),
        "{line}"
    );
    settled_screenshot(&desktop, "window-video-chooser.png", None);

    activate(&desktop, WINDOW_PATH, "play-chosen-file", None);
    let line = app.wait_for_line("playing file", STEP_TIMEOUT);
    assert!(line.contains("Series/Episode 9.mp4"), "{line}");
    app.wait_for_line("playing from", START_TIMEOUT);
    assert!(desktop.action_enabled(WINDOW_PATH, "next-file"));
    // The controls show the next-file button while they are up.
    std::thread::sleep(Duration::from_millis(700));
    desktop.screenshot(&artifact_dir().join("window-multi-file-playing.png"));

    activate(&desktop, WINDOW_PATH, "next-file", None);
    let line = app.wait_for_line("playing file", STEP_TIMEOUT);
    assert!(line.contains("Series/Episode 10.mp4"), "{line}");
    let line = app.wait_for_line("playing from", START_TIMEOUT);
    assert!(line.contains("Series/Episode 10.mp4"), "{line}");
    // The new file's first frame reaches the screen a moment later.
    let screenshot = artifact_dir().join("window-next-file.png");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while {
        desktop.screenshot(&screenshot);
        distinct_colours(&screenshot) <= 256
    } {
        assert!(
            Instant::now() < deadline,
            "no video frame on screen; see {}",
            screenshot.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // At its end, episode 11 follows on its own, and it is the last one.
    let toast = app.wait_for_line("toast:", START_TIMEOUT);
    assert!(
        toast.contains("Playing the next file, Episode 11.mp4"),
        "{toast}"
    );
    let line = app.wait_for_line("playing from", START_TIMEOUT);
    assert!(line.contains("Series/Episode 11.mp4"), "{line}");
    assert!(!desktop.action_enabled(WINDOW_PATH, "next-file"));
    assert_clean_exit(app);

    // The text file was never asked for: at most the piece it shares with
    // the video before it reached the disk.
    let original = std::fs::read(series.join("notes.txt")).expect("notes");
    let downloaded = std::fs::read(home.join("Downloads/Series/notes.txt")).unwrap_or_default();
    let same = original
        .iter()
        .zip(&downloaded)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same <= PIECE as usize + PIECE as usize / 8,
        "{same} bytes of notes.txt were downloaded"
    );
}

#[test]
fn reopened_torrent_resumes_where_playback_was_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).expect("folder");
    let video = seed_dir.join("Long.mp4");
    write_clip(&video, 40);
    let (_seeder, magnet) = seeded_magnet(&video, &dir.path().join("long.torrent"));
    reopened_video_resumes_where_playback_was_left(
        OsStr::new(&magnet),
        &dir.path().join("home"),
        "window-resumed.png",
    );
}

#[test]
fn reopened_local_file_resumes_where_playback_was_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("Long.mp4");
    write_clip(&video, 40);
    reopened_video_resumes_where_playback_was_left(
        video.as_os_str(),
        &dir.path().join("home"),
        "window-resumed-local-file.png",
    );
}

/// Plays `argument` (a magnet link or a local file) in the window, seeks
/// to 20 s, closes the window; opened again, the video starts where it was
/// (saved as `screenshot`).
fn reopened_video_resumes_where_playback_was_left(argument: &OsStr, home: &Path, screenshot: &str) {
    let desktop = Desktop::start();
    let mut app = desktop.launch_at_home_keeping_settings(argument, home);
    let line = app.wait_for_line("playing from", START_TIMEOUT);
    assert!(
        line.contains("position_s=0"),
        "a new video starts at 0: {line}"
    );
    // Playing is reported once the pipeline plays, so a seek right then
    // is a seek, not the start position.
    activate(&desktop, WINDOW_PATH, "seek", Some("<20.0>"));
    app.wait_for_line("state=Seeking", STEP_TIMEOUT);
    app.wait_for_line("state=Playing", STEP_TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));
    let (status, log) = app.terminate();
    assert!(status.success(), "exit status {status}");
    let quit_at = log
        .iter()
        .position(|line| line.contains("quitting on signal"))
        .expect("the quit");
    let saved = log[quit_at..]
        .iter()
        .find(|line| line.contains("saved playback position"))
        .unwrap_or_else(|| panic!("the position is not saved on closing: {log:#?}"));
    // Two seconds played after the seek to 20 s.
    let left_at = field(saved, "position_s=");
    assert!(left_at >= 21.0, "{saved}");

    let mut app = desktop.launch_at_home_keeping_settings(argument, home);
    let line = app.wait_for_line("playing from", START_TIMEOUT);
    let resumed_at = field(&line, "position_s=");
    // A key-unit seek lands on the key frame before: one a second.
    assert!(
        resumed_at > left_at - 1.5 && resumed_at <= left_at + 0.5,
        "left at {left_at} s, resumed at {resumed_at} s: {line}"
    );
    // The controls are up as playback starts: the elapsed time shows once
    // the window repainted.
    std::thread::sleep(Duration::from_millis(700));
    desktop.screenshot(&artifact_dir().join(screenshot));
    assert_clean_exit(app);
}

/// Mounts a 1 MiB tmpfs on the folder `$1` in new user and mount
/// namespaces (no root needed), then runs the rest with the caller's own
/// uid and gid (`$2`, `$3`) mapped back, so the session bus knows it.
const ON_SMALL_TMPFS: &str = r#"
mount -t tmpfs -o size=1m tmpfs "$1" || exit 99
uid=$2 gid=$3
shift 3
exec unshare --map-user="$uid" --map-group="$gid" "$@"
"#;

#[test]
fn full_download_disk_is_said_in_the_windows_words_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).expect("folder");
    // About 2.5 MB: more than the disk holds.
    let video = seed_dir.join("Big.mp4");
    write_clip(&video, 10);
    let (_seeder, magnet) = seeded_magnet(&video, &dir.path().join("big.torrent"));
    let home = dir.path().join("home");
    let downloads = home.join("Downloads");
    std::fs::create_dir_all(&downloads).expect("folder");
    let probe = Command::new("unshare")
        .args(["-Urm", "sh", "-c", "mount -t tmpfs tmpfs \"$1\"", "sh"])
        .arg(&downloads)
        .output()
        .expect("unshare runs (package util-linux)");
    if !probe.status.success() {
        eprintln!(
            "skipped: no tmpfs in a user namespace here: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        return;
    }

    let desktop = Desktop::start();
    // SAFETY: getuid and getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let (uid, gid) = (uid.to_string(), gid.to_string());
    let wrapper = [
        OsStr::new("unshare"),
        OsStr::new("-Urm"),
        OsStr::new("sh"),
        OsStr::new("-c"),
        OsStr::new(ON_SMALL_TMPFS),
        OsStr::new("sh"),
        downloads.as_os_str(),
        OsStr::new(&uid),
        OsStr::new(&gid),
    ];
    let env = [
        ("HOME", home.as_path()),
        ("XDG_CONFIG_HOME", home.as_path()),
    ];
    let mut app = desktop.launch_wrapped(&wrapper, &[OsStr::new(&magnet)], &env);
    let line = app.wait_for_line("showing error:", START_TIMEOUT);
    assert!(
        line.contains("The disk is full") && line.contains("Free some space"),
        "{line}"
    );
    assert!(
        !line.contains("no space left to write"),
        "the engine's own sentence: {line}"
    );
    settled_screenshot(&desktop, "window-disk-full.png", None);
    assert_clean_exit(app);
}

/// Makes `torrent` of `content` (a file or folder in a `seed` folder) and
/// seeds it with libtorrent; returns the seeder and a magnet link naming it.
fn seeded_magnet(content: &Path, torrent: &Path) -> (common::peers::Peer, String) {
    create_torrent(content, torrent, PIECE, &[]);
    let seed_dir = content.ancestors().find(|dir| dir.ends_with("seed"));
    let seeder = seed(torrent, seed_dir.expect("content below a seed folder"), 0);
    let magnet = peer_magnet(torrent, &seeder);
    (seeder, magnet)
}

/// The number after `name` in a log line (`position_s=12.5`).
fn field(line: &str, name: &str) -> f64 {
    line.split_once(name)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// Waits for the window's "tracks" line that contains all of `needles`.
fn wait_for_tracks(app: &mut App, needles: &[&str]) -> String {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let line = app.wait_for_line(
            " tracks",
            deadline.saturating_duration_since(Instant::now()),
        );
        if needles.iter().all(|needle| line.contains(needle)) {
            return line;
        }
    }
}

#[test]
fn track_menus_list_tagged_audio_and_the_torrent_subtitles_and_switch_playbin_tracks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let movie = dir.path().join("seed/Movie");
    std::fs::create_dir_all(&movie).expect("folder");
    write_two_language_video(&movie, "Movie.mkv");
    // GStreamer's SRT typefinder needs 129 bytes; real files have more.
    std::fs::write(
        movie.join("Movie.srt"),
        "1\n00:00:00,500 --> 00:00:04,000\nHello from the torrent\n\n\
         2\n00:00:04,500 --> 00:00:09,000\nThe subtitles came with the video\n\n\
         3\n00:00:09,000 --> 00:00:10,000\nThe end\n\n",
    )
    .expect("write");
    let (_seeder, magnet) = seeded_magnet(&movie, &dir.path().join("movie.torrent"));

    let desktop = Desktop::start();
    let mut app = desktop.launch_at_home(Path::new(&magnet), &dir.path().join("home"));
    // The tags name the languages; the torrent's Movie.srt is the one
    // subtitle track, shown by default.
    wait_for_tracks(
        &mut app,
        &[
            r#"audio=["English", "French"]"#,
            "current_audio=0",
            r#"text=["Track 1"]"#,
            "current_text=0",
        ],
    );
    // Paused, the 10 s video cannot end under the test, and the controls
    // stay on screen.
    activate(&desktop, WINDOW_PATH, "play-pause", None);
    app.wait_for_line("state=Paused", STEP_TIMEOUT);
    assert_eq!(desktop.action_state(WINDOW_PATH, "audio-track"), "<0>");
    assert_eq!(desktop.action_state(WINDOW_PATH, "subtitle-track"), "<0>");

    // The state follows what playbin reports as its current-audio.
    activate(&desktop, WINDOW_PATH, "audio-track", Some("<1>"));
    wait_for_tracks(&mut app, &["current_audio=1"]);
    assert_eq!(desktop.action_state(WINDOW_PATH, "audio-track"), "<1>");
    activate(&desktop, WINDOW_PATH, "subtitle-track", Some("<-1>"));
    wait_for_tracks(&mut app, &["current_audio=1", "current_text=-1"]);
    assert_eq!(desktop.action_state(WINDOW_PATH, "subtitle-track"), "<-1>");

    let closed = settled_screenshot(&desktop, "window-tracks-closed.png", None);
    // The audio menu's button, by its accessible name, wherever the
    // layout puts it.
    let (x, y) = desktop.widget_centre("button", "Audio Track", STEP_TIMEOUT);
    desktop.click(x, y);
    let open = settled_screenshot(&desktop, "window-audio-menu.png", Some(&closed));
    assert!(
        differing_pixels(&closed, &open) > 2000.0,
        "no menu opened; see {}",
        open.display()
    );
    assert_clean_exit(app);
}
