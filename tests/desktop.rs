//! What Piecewise installs into a desktop: the desktop file, AppStream
//! metainfo, GSettings schema, translations and the Flatpak's sources, each
//! checked by the tool that consumes it; then the installed app opened the
//! way a file manager or a browser opens it, and running translated.

mod common;

use common::{Desktop, artifact_dir};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const APP_ID: &str = piecewise::config::APP_ID;
const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn source(relative: &str) -> PathBuf {
    Path::new(SOURCE_DIR).join(relative)
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?} cannot start: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `make TARGET VARIABLES…` in the source tree.
fn make(target: &str, variables: &[(&str, &Path)]) -> Output {
    let mut command = Command::new("make");
    // Under `make test` the outer make's flags would leak in.
    command
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .args(["--no-print-directory", "-C", SOURCE_DIR, target])
        .args(variables.iter().map(|(name, value)| {
            let mut assignment = std::ffi::OsString::from(format!("{name}="));
            assignment.push(value);
            assignment
        }));
    run(&mut command)
}

/// The lines of a po/ list file, without comments and blank lines.
fn list_file(relative: &str) -> Vec<String> {
    fs::read_to_string(source(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

fn languages() -> Vec<String> {
    list_file("po/LINGUAS")
}

/// `make install` of the binary `cargo test` built (no second build) into a
/// fresh prefix under `dir`.
fn install(dir: &Path) -> PathBuf {
    let prefix = dir.join("prefix");
    make(
        "install",
        &[
            ("PREFIX", &prefix),
            ("BINARY", Path::new(env!("CARGO_BIN_EXE_piecewise"))),
        ],
    );
    prefix
}

/// Runs `desktop-file-validate`; its hints (such as a second main category,
/// deliberate here: Piecewise is a video player and a BitTorrent client) pass.
fn assert_desktop_file_valid(path: &Path) {
    let output = run(Command::new("desktop-file-validate").arg(path));
    let complaints: Vec<_> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.contains(": hint: "))
        .map(str::to_owned)
        .collect();
    assert!(complaints.is_empty(), "{}: {complaints:#?}", path.display());
}

fn assert_metainfo_valid(path: &Path) {
    run(Command::new("appstreamcli")
        .args(["validate", "--no-net", "--explain"])
        .arg(path));
}

#[test]
fn desktop_and_metainfo_files_pass_their_validators_before_and_after_translation() {
    let desktop = format!("data/{APP_ID}.desktop");
    let metainfo = format!("data/{APP_ID}.metainfo.xml");
    assert_desktop_file_valid(&source(&desktop));
    assert_metainfo_valid(&source(&metainfo));

    let dir = tempfile::tempdir().expect("temporary directory");
    let share = install(dir.path()).join("share");
    let installed_desktop = share.join(format!("applications/{APP_ID}.desktop"));
    assert_desktop_file_valid(&installed_desktop);
    assert_metainfo_valid(&share.join(format!("metainfo/{APP_ID}.metainfo.xml")));

    let entry = fs::read_to_string(&installed_desktop).expect("installed desktop file");
    for line in [
        "Exec=piecewise %U",
        "MimeType=application/x-bittorrent;x-scheme-handler/magnet;",
    ] {
        assert!(
            entry.lines().any(|entry_line| entry_line.starts_with(line)),
            "no {line:?} in {entry}"
        );
    }
    for language in languages() {
        assert!(
            entry.contains(&format!("Comment[{language}]=")),
            "the installed desktop file has no {language} comment:\n{entry}"
        );
    }
}

#[test]
fn gsettings_schema_compiles_strictly() {
    run(Command::new("glib-compile-schemas")
        .args(["--strict", "--dry-run"])
        .arg(source("data")));
}

#[test]
fn install_puts_every_file_in_place_and_uninstall_removes_them() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let prefix = install(dir.path());
    let mut installed = vec![
        "bin/piecewise".to_owned(),
        format!("share/applications/{APP_ID}.desktop"),
        format!("share/metainfo/{APP_ID}.metainfo.xml"),
        format!("share/icons/hicolor/scalable/apps/{APP_ID}.svg"),
        format!("share/icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg"),
        format!("share/glib-2.0/schemas/{APP_ID}.gschema.xml"),
        "share/glib-2.0/schemas/gschemas.compiled".to_owned(),
    ];
    installed.extend(
        languages()
            .iter()
            .map(|language| format!("share/locale/{language}/LC_MESSAGES/piecewise.mo")),
    );
    for file in &installed {
        assert!(prefix.join(file).is_file(), "{file} is not installed");
    }

    make("uninstall", &[("PREFIX", &prefix)]);
    for file in &installed {
        assert!(
            !prefix.join(file).exists(),
            "{file} is left after uninstall"
        );
    }
}

#[test]
fn every_translation_passes_msgfmt_check() {
    for language in languages() {
        run(Command::new("msgfmt")
            .args(["--check", "--output-file=/dev/null"])
            .arg(source(&format!("po/{language}.po"))));
    }
}

/// Whether Rust source outside its test module passes a string literal to
/// gettext, gettext_f or ngettext (the last contains "gettext(").
fn calls_gettext_on_a_literal(source: &str) -> bool {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    ["gettext(", "gettext_f("].iter().any(|call| {
        source
            .match_indices(call)
            .any(|(at, _)| source[at + call.len()..].trim_start().starts_with('"'))
    })
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[test]
fn potfiles_lists_every_file_with_translatable_strings() {
    let listed: BTreeSet<String> = list_file("po/POTFILES").into_iter().collect();
    for file in &listed {
        assert!(source(file).is_file(), "po/POTFILES names missing {file}");
    }

    let mut candidates = Vec::new();
    for dir in ["src", "resources", "data"] {
        files_under(&source(dir), &mut candidates);
    }
    let mut needed = BTreeSet::new();
    for path in candidates {
        let name = path.to_string_lossy();
        let translatable = if name.ends_with(".rs") {
            calls_gettext_on_a_literal(&fs::read_to_string(&path).expect("Rust source"))
        } else if name.ends_with(".ui") {
            fs::read_to_string(&path)
                .expect("UI file")
                .contains("translatable=\"yes\"")
        } else {
            [".desktop", ".metainfo.xml", ".gschema.xml"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
        };
        if translatable {
            let relative = path
                .strip_prefix(SOURCE_DIR)
                .expect("inside the source tree");
            needed.insert(relative.to_string_lossy().into_owned());
        }
    }
    let missing: Vec<_> = needed.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "add these files to po/POTFILES, then run `make update-po` and translate: {missing:#?}"
    );
}

/// "12 translated messages, 1 fuzzy translation, 2 untranslated messages."
fn untranslated_or_fuzzy(statistics: &str) -> bool {
    statistics.contains("fuzzy") || statistics.contains("untranslated")
}

#[test]
fn translations_cover_every_string_of_the_current_sources() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let template = dir.path().join("piecewise.pot");
    make("pot", &[("POT", &template)]);
    for language in languages() {
        let merged = dir.path().join(format!("{language}.po"));
        run(Command::new("msgmerge")
            .args(["--quiet", "--output-file"])
            .arg(&merged)
            .arg(source(&format!("po/{language}.po")))
            .arg(&template));
        let output = run(Command::new("msgfmt")
            .args(["--check", "--statistics", "--output-file=/dev/null"])
            .arg(&merged));
        let statistics = String::from_utf8_lossy(&output.stderr);
        assert!(
            !untranslated_or_fuzzy(&statistics),
            "po/{language}.po is behind the sources ({}); run `make update-po` and translate",
            statistics.trim()
        );
    }
}

/// Registry crates as (name, version, sha256).
type Crates = BTreeSet<(String, String, String)>;

fn crates_in_cargo_lock(lock: &str) -> Crates {
    lock.split("[[package]]")
        .filter_map(|block| {
            let field = |key: &str| {
                block.lines().find_map(|line| {
                    let value = line.strip_prefix(key)?.trim().strip_prefix("= ")?;
                    Some(value.trim_matches('"').to_owned())
                })
            };
            Some((field("name")?, field("version")?, field("checksum")?))
        })
        .collect()
}

fn crates_in_cargo_sources(sources: &serde_json::Value) -> Crates {
    sources
        .as_array()
        .expect("cargo-sources.json is a list")
        .iter()
        .filter(|entry| entry["type"] == "archive")
        .map(|entry| {
            let url = entry["url"].as_str().expect("archive url");
            let sha256 = entry["sha256"].as_str().expect("archive sha256");
            // https://static.crates.io/crates/NAME/NAME-VERSION.crate
            let mut segments = url.rsplit('/');
            let file = segments.next().expect("file name");
            let name = segments.next().expect("crate name");
            let version = file
                .strip_prefix(&format!("{name}-"))
                .and_then(|rest| rest.strip_suffix(".crate"))
                .unwrap_or_else(|| panic!("unexpected crate url {url}"));
            (name.to_owned(), version.to_owned(), sha256.to_owned())
        })
        .collect()
}

#[test]
fn flatpak_cargo_sources_match_cargo_lock() {
    let lock = fs::read_to_string(source("Cargo.lock")).expect("Cargo.lock");
    let sources: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(source("flatpak/cargo-sources.json")).expect("cargo-sources.json"),
    )
    .expect("cargo-sources.json is JSON");
    let locked = crates_in_cargo_lock(&lock);
    let vendored = crates_in_cargo_sources(&sources);
    assert!(!locked.is_empty(), "no registry crates found in Cargo.lock");
    let missing: Vec<_> = locked.difference(&vendored).collect();
    let stale: Vec<_> = vendored.difference(&locked).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "flatpak/cargo-sources.json is out of date: run `make flatpak-sources`\n\
         missing: {missing:#?}\nstale: {stale:#?}"
    );
}

#[test]
fn flatpak_manifest_builds_the_app_offline_in_a_networked_video_sandbox() {
    let manifest: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(source(&format!("flatpak/{APP_ID}.json"))).expect("manifest"),
    )
    .expect("the manifest is JSON");
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["command"], "piecewise");
    assert_eq!(manifest["runtime"], "org.gnome.Platform");
    assert_eq!(manifest["sdk"], "org.gnome.Sdk");
    let sdk_extensions = manifest["sdk-extensions"].to_string();
    assert!(sdk_extensions.contains("org.freedesktop.Sdk.Extension.rust-stable"));

    let finish_args: BTreeSet<&str> = manifest["finish-args"]
        .as_array()
        .expect("finish-args")
        .iter()
        .filter_map(|arg| arg.as_str())
        .collect();
    for needed in [
        "--share=network",
        "--share=ipc",
        "--socket=wayland",
        "--socket=fallback-x11",
        "--device=dri",
        "--socket=pulseaudio",
        "--filesystem=xdg-download",
    ] {
        assert!(finish_args.contains(needed), "finish-args lack {needed}");
    }

    let module = manifest["modules"]
        .as_array()
        .and_then(|modules| modules.last())
        .expect("the piecewise module");
    let commands = module["build-commands"].to_string();
    assert!(
        commands.contains("cargo --offline build --release"),
        "{commands}"
    );
    assert!(
        module["sources"]
            .to_string()
            .contains("\"cargo-sources.json\""),
        "the module does not use cargo-sources.json"
    );
}

#[test]
fn gettext_calls_are_recognised_across_line_breaks_but_not_on_variables() {
    assert!(calls_gettext_on_a_literal(r#"gettext("Play")"#));
    assert!(calls_gettext_on_a_literal(
        "gettext_f(\n    \"{} of {}\",\n"
    ));
    assert!(calls_gettext_on_a_literal(r#"ngettext("a", "b", n)"#));
    assert!(!calls_gettext_on_a_literal("let t = gettext(format);"));
    assert!(!calls_gettext_on_a_literal(
        "fn f() {}\n#[cfg(test)]\nmod tests { gettext_f(\"{}\", &[]) }"
    ));
}

/// Start-up of GTK and GStreamer on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Piecewise installed in a temporary prefix, a private X server and bus,
/// and an environment in which that prefix is the only place desktop files
/// and user preferences come from (the system's MIME database still
/// applies: it knows `*.torrent`).
struct InstalledDesktop {
    dir: tempfile::TempDir,
    prefix: PathBuf,
    desktop: Desktop,
}

impl InstalledDesktop {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let prefix = install(dir.path());
        for empty in ["data-home", "config-home", "config-dirs"] {
            fs::create_dir(dir.path().join(empty)).expect("XDG directory");
        }
        Self {
            dir,
            prefix,
            desktop: Desktop::start(),
        }
    }

    /// `program` in that environment, its stderr (and so that of the
    /// Piecewise it launches) appended to `log`. Its stdout is discarded
    /// unless piped again: a launched Piecewise would hold a pipe open.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, log: &Path) -> Command {
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let path = std::env::join_paths(std::iter::once(self.prefix.join("bin")).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("PATH");
        let mut command = Command::new(program);
        command
            .env("PATH", path)
            .env(
                "XDG_DATA_DIRS",
                format!("{}:/usr/share", self.prefix.join("share").display()),
            )
            .env("XDG_DATA_HOME", self.dir.path().join("data-home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config-home"))
            .env("XDG_CONFIG_DIRS", self.dir.path().join("config-dirs"))
            .env_remove("XDG_CURRENT_DESKTOP")
            .env_remove("DESKTOP_SESSION")
            .env("DISPLAY", &self.desktop.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.desktop.bus_address)
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
            .env("RUST_LOG", "warn,piecewise=info")
            // Never the public DHT routers.
            .env("PIECEWISE_DHT_BOOTSTRAP", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        command
    }

    /// The process that owns Piecewise's bus name.
    fn piecewise_pid(&self) -> libc::pid_t {
        let output = run(self
            .command("gdbus", &self.dir.path().join("gdbus.log"))
            .stdout(Stdio::piped())
            .args([
                "call",
                "--session",
                "--dest=org.freedesktop.DBus",
                "--object-path=/org/freedesktop/DBus",
                "--method=org.freedesktop.DBus.GetConnectionUnixProcessID",
                APP_ID,
            ]));
        // "(uint32 1234,)"
        let reply = String::from_utf8_lossy(&output.stdout);
        reply
            .trim()
            .trim_start_matches("(uint32 ")
            .trim_end_matches(",)")
            .parse()
            .unwrap_or_else(|_| panic!("unexpected reply {reply:?}"))
    }
}

/// Waits for a line of `log` containing every one of `needles`; returns it.
fn wait_for_log_line(log: &Path, needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needles:?} in {timeout:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
fn has_exited(pid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn terminate(pid: libc::pid_t) {
    // SAFETY: kill(2) on the Piecewise this test launched.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !has_exited(pid) {
        assert!(Instant::now() < deadline, "piecewise ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn double_clicking_a_torrent_or_a_magnet_link_starts_the_installed_piecewise_on_it() {
    let session = InstalledDesktop::start();
    let dir = session.dir.path();
    let log = dir.join("piecewise.log");

    for mime_type in ["application/x-bittorrent", "x-scheme-handler/magnet"] {
        let output = run(session
            .command("xdg-mime", &log)
            .stdout(Stdio::piped())
            .args(["query", "default", mime_type]));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("{APP_ID}.desktop"),
            "xdg-mime's default for {mime_type}"
        );
    }

    let video = dir.join("clip.mp4");
    fs::write(&video, vec![7u8; 100_000]).expect("content");
    let torrent = dir.join("some.torrent");
    let created = run(Command::new(env!("CARGO_BIN_EXE_piecewise"))
        .arg("create")
        .arg(&video)
        .arg("--output")
        .arg(&torrent));
    let magnet = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");

    // gio launches the desktop file's Exec line; Piecewise's open handler
    // takes the torrent (there are no peers, so it stays on "Opening").
    run(session.command("gio", &log).arg("open").arg(&torrent));
    wait_for_log_line(
        &log,
        &["opening torrent", &format!("Torrent({torrent:?})")],
        START_TIMEOUT,
    );
    let pid = session.piecewise_pid();

    // A second launch hands the raw magnet link to the running instance.
    run(session.command("gio", &log).arg("open").arg(&magnet));
    wait_for_log_line(
        &log,
        &["opening torrent", &format!("Magnet({magnet:?})")],
        START_TIMEOUT,
    );
    assert_eq!(
        session.piecewise_pid(),
        pid,
        "a second instance kept running"
    );

    terminate(pid);
    let text = fs::read_to_string(&log).expect("log");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn installed_piecewise_speaks_brazilian_portuguese_under_language_pt_br() {
    let session = InstalledDesktop::start();
    let dir = session.dir.path();
    let log = dir.join("piecewise.log");
    let english = "The file does not exist. It may have been moved or deleted.";
    let expected = run(Command::new("gettext")
        .env("TEXTDOMAINDIR", session.prefix.join("share/locale"))
        .env("LANGUAGE", "pt_BR")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .args(["-d", "piecewise", english]));
    let expected = String::from_utf8_lossy(&expected.stdout).into_owned();
    assert!(
        !expected.is_empty() && expected != english,
        "pt_BR.mo lacks {english:?}"
    );

    let mut app = session
        .command(session.prefix.join("bin/piecewise"), &log)
        .env("LANGUAGE", "pt_BR")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .arg(dir.join("missing.mp4"))
        .spawn()
        .expect("installed piecewise starts");
    let line = wait_for_log_line(&log, &["showing error"], START_TIMEOUT);
    // Let the error page render for the screenshot; the assertion does not
    // depend on it.
    std::thread::sleep(Duration::from_millis(500));
    session
        .desktop
        .screenshot(&artifact_dir().join("desktop-pt_BR-error-page.png"));
    let _ = app.kill();
    let _ = app.wait();
    assert!(
        line.ends_with(&expected),
        "expected {expected:?} in the log line {line:?}"
    );
}
