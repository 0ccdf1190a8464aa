//! The `adw::Application`: single instance, opens what the command line or
//! the desktop hands it, quits cleanly on SIGTERM and SIGINT.

use crate::config::{APP_ID, RESOURCE_PREFIX};
use crate::ui::open_request::decide_argument;
use crate::ui::{PiecewisePreferences, PiecewiseWindow};
use adw::prelude::*;
use gtk::{gio, glib};
use std::path::{Path, PathBuf};

/// Runs the window until it closes. `location` is a path or URI, kept as
/// the raw string (see `media_uri`). `download_folder` replaces the
/// preferences' folder for torrents, which are then throwaway: the demo
/// keeps its download apart, and its magnet (loopback ports that close
/// with it) out of the recent torrents.
pub fn run(location: Option<String>, download_folder: Option<PathBuf>) -> glib::ExitCode {
    crate::i18n::init();
    if let Err(error) = crate::player::init() {
        tracing::error!(%error, "cannot initialise GStreamer");
        return glib::ExitCode::FAILURE;
    }
    if let Err(error) = gio::resources_register_include!("piecewise.gresource") {
        tracing::error!(%error, "cannot load the compiled-in resources");
        return glib::ExitCode::FAILURE;
    }

    // HANDLES_COMMAND_LINE hands the primary instance the raw argument
    // strings (GIO would turn `magnet:?…` into a broken GFile);
    // HANDLES_OPEN serves file managers that open files over D-Bus.
    let app = adw::Application::builder()
        .application_id(APP_ID)
        .resource_base_path(RESOURCE_PREFIX)
        .flags(gio::ApplicationFlags::HANDLES_OPEN | gio::ApplicationFlags::HANDLES_COMMAND_LINE)
        .build();
    app.connect_startup(|app| {
        load_css();
        setup_actions(app);
        for signal in [libc::SIGTERM, libc::SIGINT] {
            glib::unix_signal_add_local(
                signal,
                glib::clone!(
                    #[weak]
                    app,
                    #[upgrade_or]
                    glib::ControlFlow::Break,
                    move || {
                        tracing::info!(signal, "quitting on signal");
                        // Closing the windows first stops their pipelines.
                        for window in app.windows() {
                            window.close();
                        }
                        app.quit();
                        glib::ControlFlow::Break
                    }
                ),
            );
        }
    });
    app.connect_activate(|app| {
        window(app).present();
        tracing::info!("window presented");
    });
    app.connect_command_line(move |app, command_line| {
        let cwd = command_line.cwd();
        let arguments = command_line.arguments();
        let window = window(app);
        if let Some(folder) = &download_folder {
            window.use_throwaway_folder(folder.clone());
        }
        // The first argument is the program name.
        for argument in arguments.iter().skip(1) {
            let raw = argument.to_string_lossy();
            match decide_argument(&raw, cwd.as_deref()) {
                Some(Ok(open)) => window.open(open),
                Some(Err(rejection)) => window.reject(&rejection),
                None => window.open_uri(&media_uri(&raw, cwd.as_deref()), &display_name(&raw)),
            }
        }
        window.present();
        tracing::info!("window presented");
        glib::ExitCode::SUCCESS
    });
    app.connect_open(|app, files, _hint| {
        let window = window(app);
        for file in files {
            let name = file
                .basename()
                .map(|name| name.display().to_string())
                .unwrap_or_else(|| file.uri().to_string());
            match decide_argument(&file.uri(), None) {
                Some(Ok(open)) => window.open(open),
                Some(Err(rejection)) => window.reject(&rejection),
                None => window.open_uri(&file.uri(), &name),
            }
        }
        window.present();
    });

    let arguments: Vec<String> = std::iter::once("piecewise".to_owned())
        .chain(location)
        .collect();
    app.run_with_args(&arguments)
}

fn window(app: &adw::Application) -> PiecewiseWindow {
    app.active_window()
        .and_downcast::<PiecewiseWindow>()
        .unwrap_or_else(|| PiecewiseWindow::new(app))
}

/// One press of ←/→.
const SEEK_STEP_SECONDS: f64 = 10.0;

/// One press of ↑/↓, on the 0–1 volume scale.
const VOLUME_STEP: f64 = 0.1;

/// App actions and every keyboard shortcut (the window's actions are in
/// `ui::window`; `gtk/help-overlay.ui` lists them for people).
fn setup_actions(app: &adw::Application) {
    let quit = gio::ActionEntry::builder("quit")
        .activate(|app: &adw::Application, _, _| {
            // Closing the windows first stops their pipelines.
            for window in app.windows() {
                window.close();
            }
            app.quit();
        })
        .build();
    let preferences = gio::ActionEntry::builder("preferences")
        .activate(|app: &adw::Application, _, _| {
            let window = window(app);
            PiecewisePreferences::new(&window, window.settings()).present();
        })
        .build();
    app.add_action_entries([quit, preferences]);
    let steps = [
        (format!("win.seek-by({:?})", -SEEK_STEP_SECONDS), "Left"),
        (format!("win.seek-by({SEEK_STEP_SECONDS:?})"), "Right"),
        (format!("win.volume-by({VOLUME_STEP:?})"), "Up"),
        (format!("win.volume-by({:?})", -VOLUME_STEP), "Down"),
    ];
    for (action, key) in &steps {
        app.set_accels_for_action(action, &[key]);
    }
    let accels: [(&str, &[&str]); 11] = [
        ("win.play-pause", &["space", "k"]),
        ("win.toggle-fullscreen", &["f"]),
        ("win.next-file", &["n"]),
        ("win.toggle-stats", &["F9"]),
        ("win.leave-fullscreen", &["Escape"]),
        ("win.open-torrent", &["<Control>o"]),
        ("win.paste", &["<Control>v"]),
        ("window.close", &["<Control>w"]),
        ("app.quit", &["<Control>q"]),
        ("app.preferences", &["<Control>comma"]),
        ("win.show-help-overlay", &["<Control>question"]),
    ];
    for (action, keys) in accels {
        app.set_accels_for_action(action, keys);
    }
}

fn load_css() {
    let Some(display) = gtk::gdk::Display::default() else {
        return;
    };
    let provider = gtk::CssProvider::new();
    provider.load_from_resource(&format!("{RESOURCE_PREFIX}/style.css"));
    gtk::style_context_add_provider_for_display(
        &display,
        &provider,
        gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
    );
}

/// A URI for GStreamer: strings with a scheme (`file:`, `https:`,
/// `magnet:`) pass unchanged unless they name an existing file; anything
/// else is a path, relative to the invoking shell's directory.
pub fn media_uri(raw: &str, cwd: Option<&Path>) -> String {
    let path = Path::new(raw);
    let absolute = match cwd {
        Some(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_owned(),
    };
    let has_scheme = glib::Uri::peek_scheme(raw).is_some_and(|scheme| scheme.len() > 1);
    if has_scheme && !absolute.exists() {
        return raw.to_owned();
    }
    glib::filename_to_uri(&absolute, None)
        .map(|uri| uri.to_string())
        .unwrap_or_else(|_| raw.to_owned())
}

/// The name shown under the window title.
fn display_name(raw: &str) -> String {
    Path::new(raw)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::media_uri;
    use std::path::Path;

    #[test]
    fn media_uri_keeps_uris_raw_and_resolves_paths() {
        let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=a%20b";
        assert_eq!(media_uri(magnet, None), magnet);
        assert_eq!(media_uri("file:///tmp/x.mp4", None), "file:///tmp/x.mp4");
        assert_eq!(
            media_uri("clip one.mp4", Some(Path::new("/home/me"))),
            "file:///home/me/clip%20one.mp4"
        );
        assert_eq!(
            media_uri("/srv/v.webm", Some(Path::new("/home/me"))),
            "file:///srv/v.webm"
        );
    }
}
