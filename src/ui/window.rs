//! The main window: start page, opening status, video with overlay
//! controls, error page; drops, pastes and keyboard actions.

use crate::i18n::{gettext, gettext_f};
use crate::player::session::{BufferStatus, SessionEvent};
use crate::player::{PlaybackState, Player, PlayerEvent, PlayerSinks, Tracks};
use crate::ui::format_clock;
use crate::ui::open_request::{Open, Rejection, decide_files, decide_text};
use crate::ui::seek_bar::{PiecewiseSeekBar, SeekRanges};
use crate::ui::settings::{self, Key};
use crate::ui::stats_panel::StatsPanel;
use crate::ui::status_line::{finding_text, state_text, swarm_text};
use crate::ui::torrent_playback::{
    PlaybackCommand, PlaybackUpdate, TorrentFiles, TorrentPlayback, engine_config,
};
use crate::ui::track_menus::PiecewiseTrackMenus;
use crate::ui::video_chooser::PiecewiseVideoChooser;
use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gdk, gio, glib};
use std::path::PathBuf;
use std::time::Duration;

mod files;
mod stats;
mod tracks;

/// How long the controls stay over a playing video after the pointer stops.
const CONTROLS_HIDE_DELAY: Duration = Duration::from_millis(2500);

/// Actions that only make sense with a video on screen; disabled elsewhere
/// so that their keys (Space, arrows) reach the start page's widgets.
const PLAYBACK_ACTIONS: [&str; 6] = [
    "play-pause",
    "seek",
    "seek-by",
    "set-volume",
    "volume-by",
    "toggle-fullscreen",
];

mod imp {
    use super::*;
    use std::cell::{Cell, OnceCell, RefCell};

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/window.ui")]
    pub struct PiecewiseWindow {
        #[template_child]
        pub toast_overlay: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub header_bar: TemplateChild<adw::HeaderBar>,
        #[template_child]
        pub window_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub magnet_entry: TemplateChild<gtk::Entry>,
        #[template_child]
        pub magnet_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub recent_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub recent_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub opening_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub video_overlay: TemplateChild<gtk::Overlay>,
        #[template_child]
        pub picture: TemplateChild<gtk::Picture>,
        #[template_child]
        pub controls_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub controls: TemplateChild<gtk::Box>,
        #[template_child]
        pub status_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub play_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub next_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub video_chooser: TemplateChild<PiecewiseVideoChooser>,
        #[template_child]
        pub elapsed_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub seek_bar: TemplateChild<PiecewiseSeekBar>,
        #[template_child]
        pub duration_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub track_menus: TemplateChild<PiecewiseTrackMenus>,
        #[template_child]
        pub volume_button: TemplateChild<gtk::VolumeButton>,
        #[template_child]
        pub fullscreen_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub error_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub stats_flap: TemplateChild<adw::Flap>,
        #[template_child]
        pub stats_panel: TemplateChild<StatsPanel>,
        pub settings: OnceCell<Option<gio::Settings>>,
        pub player: RefCell<Option<Player>>,
        /// A torrent playing through the engine (instead of `player`).
        pub torrent: RefCell<Option<TorrentPlayback>>,
        /// Peers and rates for the status line, while a torrent plays.
        pub swarm_status: RefCell<String>,
        /// The startup rule's view of the buffer, for "buffering n %".
        pub buffer: Cell<Option<BufferStatus>>,
        /// The status line as last logged.
        pub status_line: RefCell<String>,
        pub state: Cell<Option<PlaybackState>>,
        /// Logged once per opened video, for people and tests watching stderr.
        pub announced_start: Cell<bool>,
        pub hide_controls: RefCell<Option<glib::SourceId>>,
        pub pointer_over_controls: Cell<bool>,
        /// The last pointer position over the video: X servers repeat
        /// motion events without movement when widgets change under it.
        pub pointer_at: Cell<(f64, f64)>,
        /// Suspend and screensaver inhibition while playing.
        pub inhibit_cookie: Cell<Option<u32>>,
        /// Replaces the preferences' download folder for throwaway
        /// torrents (the demo's swarm), which are not remembered.
        pub download_folder: RefCell<Option<PathBuf>>,
        /// Kept alive while the chooser is shown (it is not a widget).
        pub file_chooser: RefCell<Option<gtk::FileChooserNative>>,
        /// The open torrent's playable files.
        pub files: RefCell<Option<TorrentFiles>>,
        /// The torrent's file on screen, for "next file" and its position.
        pub playing: RefCell<Option<files::PlayingFile>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewiseWindow {
        const NAME: &'static str = "PiecewiseWindow";
        type Type = super::PiecewiseWindow;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            StatsPanel::ensure_type();
            PiecewiseSeekBar::ensure_type();
            PiecewiseVideoChooser::ensure_type();
            PiecewiseTrackMenus::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewiseWindow {
        fn constructed(&self) {
            self.parent_constructed();
            let window = self.obj();
            self.settings.get_or_init(settings::settings);
            window.setup_actions();
            window.setup_track_actions();
            window.setup_stats();
            window.setup_files();
            window.setup_start_page();
            window.setup_controls();
            window.setup_drop_target();
            window.setup_window_state();
            window.show_page("start");
        }

        fn dispose(&self) {
            self.obj().uninhibit();
            self.obj().leave_files();
            // The position just saved is written before the process ends;
            // only here, as syncing waits for the settings backend.
            gio::Settings::sync();
            // Stops the pipeline before the widgets it renders into go away.
            self.player.take();
            self.torrent.take();
        }
    }

    impl WidgetImpl for PiecewiseWindow {}
    impl WindowImpl for PiecewiseWindow {}
    impl ApplicationWindowImpl for PiecewiseWindow {}
    impl AdwApplicationWindowImpl for PiecewiseWindow {}
}

glib::wrapper! {
    pub struct PiecewiseWindow(ObjectSubclass<imp::PiecewiseWindow>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Accessible, gtk::Buildable,
            gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl PiecewiseWindow {
    pub fn new(application: &adw::Application) -> Self {
        glib::Object::builder()
            .property("application", application)
            .build()
    }

    /// The app's settings, `None` when the schema is not installed.
    pub fn settings(&self) -> Option<&gio::Settings> {
        self.imp().settings.get().and_then(Option::as_ref)
    }

    /// Torrents opened from now on download into `folder` instead of the
    /// preferences' download folder, and stay out of the recent torrents:
    /// the demo's magnet names loopback seeders that stop with it.
    pub fn use_throwaway_folder(&self, folder: PathBuf) {
        self.imp().download_folder.replace(Some(folder));
    }

    /// Opens a torrent or magnet link and remembers it in the recent list
    /// (unless it is throwaway, see `use_throwaway_folder`).
    pub fn open(&self, open: Open) {
        let imp = self.imp();
        let name = open.display_name();
        tracing::info!(?open, "opening torrent");
        let throwaway = imp.download_folder.borrow().is_some();
        if let (false, Some(settings), Some(entry)) =
            (throwaway, self.settings(), open.recent_entry())
        {
            settings::remember_recent(settings, &entry);
        }
        imp.player.take();
        self.leave_files();
        // The old engine stops on the new one's thread (see `start`).
        let previous = imp.torrent.take();
        imp.stats_panel.clear_live();
        imp.swarm_status.replace(String::new());
        imp.buffer.set(None);
        imp.announced_start.set(false);
        imp.window_title.set_subtitle(&name);
        imp.opening_page.set_description(Some(&name));
        self.reset_progress();
        self.show_page("opening");
        match self.start_torrent(&open, previous) {
            Ok(torrent) => {
                torrent.send(PlaybackCommand::WatchStats(imp.stats_flap.reveals_flap()));
                imp.torrent.replace(Some(torrent));
            }
            Err(error) => self.show_error(&gettext_f(
                "The video player cannot start: {}.",
                &[&error.to_string()],
            )),
        }
    }

    fn start_torrent(
        &self,
        open: &Open,
        previous: Option<TorrentPlayback>,
    ) -> anyhow::Result<TorrentPlayback> {
        let mut config = engine_config(self.settings());
        if let Some(folder) = self.imp().download_folder.borrow().clone() {
            config.download_dir = folder;
        }
        let (torrent, updates) = TorrentPlayback::start(open, config, previous)?;
        let window = self.downgrade();
        glib::spawn_future_local(async move {
            while let Ok(update) = updates.recv().await {
                let Some(window) = window.upgrade() else {
                    break;
                };
                window.handle_update(update);
            }
        });
        Ok(torrent)
    }

    fn handle_update(&self, update: PlaybackUpdate) {
        if self.is_stale(&update) {
            return;
        }
        let imp = self.imp();
        let clock = |seconds: f64| gst::ClockTime::from_nseconds((seconds.max(0.0) * 1e9) as u64);
        match update {
            PlaybackUpdate::Files(files) => self.show_files(files),
            PlaybackUpdate::FileStarted(file) => self.file_started(file),
            PlaybackUpdate::Session(SessionEvent::State(state)) => {
                if state != PlaybackState::Opening
                    && imp.stack.visible_child_name().as_deref() == Some("opening")
                {
                    self.show_page("video");
                }
                let previous = imp.state.get();
                self.handle_event(PlayerEvent::State(state));
                self.playback_state_changed(previous, state);
            }
            PlaybackUpdate::Session(SessionEvent::Ended { complete }) => {
                if complete {
                    tracing::info!("playback finished");
                    self.file_finished();
                } else {
                    self.show_error(&gettext(
                        "The video stopped early. The torrent’s data may be incomplete or damaged.",
                    ));
                }
            }
            PlaybackUpdate::Session(SessionEvent::Failed(error)) => {
                self.show_error(&error.user_message());
            }
            PlaybackUpdate::Session(SessionEvent::Position(_)) => {}
            PlaybackUpdate::Session(SessionEvent::Tracks(tracks)) => self.show_tracks(&tracks),
            PlaybackUpdate::Progress { position, duration } => {
                self.show_progress(clock(position), duration.map(clock));
                self.note_position(position, duration);
            }
            PlaybackUpdate::Finding(finding) => {
                let name = imp.window_title.subtitle();
                let text = finding_text(finding);
                tracing::info!("finding the torrent: {text}");
                imp.opening_page
                    .set_description(Some(&format!("{name}\n{text}")));
            }
            PlaybackUpdate::Swarm {
                peers,
                download_rate,
                upload_rate,
                buffer,
                complete,
            } => {
                imp.swarm_status
                    .replace(swarm_text(peers, download_rate, upload_rate, complete));
                imp.buffer.set(buffer);
                self.show_status();
            }
            PlaybackUpdate::Stats(snapshot) => imp.stats_panel.show_snapshot(*snapshot),
            PlaybackUpdate::Exported(result) => self.exported(result),
            PlaybackUpdate::Ranges(ranges) => imp.seek_bar.set_ranges(ranges),
            PlaybackUpdate::Failed(sentence) => self.show_error(&sentence),
        }
    }

    /// The status line: the playback state, then the swarm when there is one.
    fn show_status(&self) {
        let imp = self.imp();
        let state = imp
            .state
            .get()
            .map(|state| state_text(state, imp.buffer.get().as_ref()))
            .unwrap_or_default();
        let line = {
            let swarm = imp.swarm_status.borrow();
            if swarm.is_empty() {
                state
            } else if state.is_empty() {
                swarm.clone()
            } else {
                format!("{state} · {swarm}")
            }
        };
        imp.status_label.set_label(&line);
        if *imp.status_line.borrow() != line {
            tracing::info!("status line: {line}");
            imp.status_line.replace(line);
        }
    }

    fn reset_progress(&self) {
        let imp = self.imp();
        imp.state.set(None);
        imp.elapsed_label
            .set_label(&format_clock(gst::ClockTime::ZERO));
        imp.duration_label
            .set_label(&format_clock(gst::ClockTime::ZERO));
        imp.seek_bar.scale().set_value(0.0);
        imp.seek_bar.scale().set_sensitive(false);
        imp.seek_bar.set_ranges(SeekRanges::default());
        self.show_tracks(&Tracks::default());
    }

    /// Sends `command` to what is playing: the torrent session or the
    /// media player.
    fn command(&self, command: PlaybackCommand) {
        let imp = self.imp();
        if let Some(torrent) = imp.torrent.borrow().as_ref() {
            torrent.send(command);
            return;
        }
        let clock = |seconds: f64| gst::ClockTime::from_nseconds((seconds.max(0.0) * 1e9) as u64);
        self.with_player(|player| match command {
            PlaybackCommand::TogglePlay => player.toggle_play(),
            PlaybackCommand::Seek(seconds) => player.seek(clock(seconds)),
            PlaybackCommand::SeekBy(delta) => {
                let scale = imp.seek_bar.scale();
                player.seek(clock(
                    (scale.value() + delta).min(scale.adjustment().upper()),
                ));
            }
            PlaybackCommand::Volume(volume) => player.set_volume(volume),
            PlaybackCommand::SelectAudio(index) => player.select_audio(index),
            PlaybackCommand::SelectText(index) => player.select_text(index),
            // A media file plays without the engine, so without statistics
            // or other files.
            PlaybackCommand::WatchStats(_)
            | PlaybackCommand::ExportStats(_)
            | PlaybackCommand::PlayFile { .. } => {}
        });
    }

    /// Says in a toast why something cannot be opened.
    pub fn reject(&self, rejection: &Rejection) {
        self.toast(&rejection.message());
    }

    /// Plays `uri` (a `file://` URI or any URI GStreamer reads), replacing
    /// what was playing.
    pub fn open_uri(&self, uri: &str, title: &str) {
        let imp = self.imp();
        imp.window_title.set_subtitle(title);
        imp.announced_start.set(false);
        self.leave_files();
        if let Some(torrent) = imp.torrent.take() {
            torrent.stop_in_background();
        }
        imp.stats_panel.clear_live();
        imp.swarm_status.replace(String::new());
        imp.buffer.set(None);
        if imp.player.borrow().is_none() {
            match self.create_player() {
                Ok(player) => imp.player.replace(Some(player)),
                Err(error) => {
                    self.show_error(&gettext_f(
                        "The video player cannot start: {}.",
                        &[&error.to_string()],
                    ));
                    return;
                }
            };
        }
        self.reset_progress();
        self.show_page("video");
        let start_s = self.play_local_file(uri);
        tracing::info!(%uri, ?start_s, "opening");
        let start = start_s.map(|start| gst::ClockTime::from_nseconds((start * 1e9) as u64));
        self.with_player(|player| player.open_at(uri, None, start));
    }

    fn toast(&self, message: &str) {
        tracing::info!("toast: {message}");
        self.imp().toast_overlay.add_toast(adw::Toast::new(message));
    }

    fn open_text(&self, text: &str) {
        match decide_text(text) {
            Ok(open) => self.open(open),
            Err(rejection) => self.reject(&rejection),
        }
    }

    fn show_page(&self, name: &str) {
        self.imp().stack.set_visible_child_name(name);
        for action in PLAYBACK_ACTIONS {
            self.set_action_enabled(action, name == "video");
        }
        self.show_next_file();
        if name != "video" && self.is_fullscreen() {
            self.unfullscreen();
        }
    }

    fn set_action_enabled(&self, name: &str, enabled: bool) {
        if let Some(action) = self.lookup_action(name).and_downcast::<gio::SimpleAction>() {
            action.set_enabled(enabled);
        }
    }

    fn setup_actions(&self) {
        let with_seconds = |name: &str, command: fn(f64) -> PlaybackCommand| {
            gio::ActionEntry::builder(name)
                .parameter_type(Some(glib::VariantTy::DOUBLE))
                .activate(move |window: &Self, _, target| {
                    if let Some(seconds) = target.and_then(|t| t.get::<f64>()) {
                        window.command(command(seconds));
                    }
                })
                .build()
        };
        let actions = [
            gio::ActionEntry::builder("play-pause")
                .activate(|window: &Self, _, _| window.command(PlaybackCommand::TogglePlay))
                .build(),
            with_seconds("seek", PlaybackCommand::Seek),
            with_seconds("seek-by", PlaybackCommand::SeekBy),
            with_seconds("set-volume", PlaybackCommand::Volume),
            gio::ActionEntry::builder("volume-by")
                .parameter_type(Some(glib::VariantTy::DOUBLE))
                .activate(|window: &Self, _, target| {
                    if let Some(delta) = target.and_then(|t| t.get::<f64>()) {
                        // The button's value-changed handler sets the player's.
                        let button = &window.imp().volume_button;
                        button.set_value((button.value() + delta).clamp(0.0, 1.0));
                    }
                })
                .build(),
            gio::ActionEntry::builder("toggle-fullscreen")
                .activate(|window: &Self, _, _| {
                    window.set_fullscreened(!window.is_fullscreen());
                })
                .build(),
            gio::ActionEntry::builder("leave-fullscreen")
                .activate(|window: &Self, _, _| window.unfullscreen())
                .build(),
            gio::ActionEntry::builder("open-torrent")
                .activate(|window: &Self, _, _| window.choose_torrent())
                .build(),
            gio::ActionEntry::builder("open-text")
                .parameter_type(Some(glib::VariantTy::STRING))
                .activate(|window: &Self, _, target| {
                    if let Some(text) = target.and_then(|t| t.get::<String>()) {
                        window.open_text(&text);
                    }
                })
                .build(),
            gio::ActionEntry::builder("paste")
                .activate(|window: &Self, _, _| window.paste())
                .build(),
        ];
        self.add_action_entries(actions);
        self.set_action_enabled("leave-fullscreen", false);
    }

    /// Ctrl+V: a focused text field pastes as usual; elsewhere the
    /// clipboard's text opens like a dropped link.
    fn paste(&self) {
        if let Some(text) = gtk::prelude::GtkWindowExt::focus(self).and_downcast::<gtk::Text>() {
            if let Err(error) = text.activate_action("clipboard.paste", None) {
                tracing::warn!(%error, "paste into the text field failed");
            }
            return;
        }
        let clipboard = self.clipboard();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match clipboard.read_text_future().await {
                    Ok(Some(text)) => window.open_text(&text),
                    Ok(None) | Err(_) => window.reject(&Rejection::Nothing),
                }
            }
        ));
    }

    fn choose_torrent(&self) {
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("Torrent files")));
        filter.add_mime_type("application/x-bittorrent");
        filter.add_pattern("*.torrent");
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Open Torrent")),
            Some(self),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            None,
        );
        chooser.add_filter(&filter);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |chooser, response| {
                let path = chooser.file().and_then(|file| file.path());
                if let (gtk::ResponseType::Accept, Some(path)) = (response, path) {
                    match decide_files(&[path]) {
                        Ok(open) => window.open(open),
                        Err(rejection) => window.reject(&rejection),
                    }
                }
                window.imp().file_chooser.take();
            }
        ));
        chooser.show();
        self.imp().file_chooser.replace(Some(chooser));
    }

    fn setup_start_page(&self) {
        let imp = self.imp();
        imp.magnet_entry.connect_changed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |entry| {
                let filled = !entry.text().trim().is_empty();
                window.imp().magnet_button.set_sensitive(filled);
            }
        ));
        let open_entry = glib::clone!(
            #[weak(rename_to = window)]
            self,
            move || {
                let entry = &window.imp().magnet_entry;
                let text = entry.text();
                if text.trim().is_empty() {
                    return;
                }
                match decide_text(&text) {
                    Ok(open) => {
                        entry.set_text("");
                        window.open(open);
                    }
                    Err(rejection) => window.reject(&rejection),
                }
            }
        );
        let on_activate = open_entry.clone();
        imp.magnet_entry.connect_activate(move |_| on_activate());
        imp.magnet_button.connect_clicked(move |_| open_entry());

        self.show_recent();
        if let Some(settings) = self.settings() {
            settings.connect_changed(
                Some(Key::RecentTorrents.name()),
                glib::clone!(
                    #[weak(rename_to = window)]
                    self,
                    move |_, _| window.show_recent()
                ),
            );
        }
    }

    fn show_recent(&self) {
        let imp = self.imp();
        while let Some(row) = imp.recent_list.first_child() {
            imp.recent_list.remove(&row);
        }
        let entries = self
            .settings()
            .map(|settings| settings.strv(Key::RecentTorrents.name()))
            .unwrap_or_default();
        let mut shown = 0;
        for open in entries.iter().filter_map(|entry| decide_text(entry).ok()) {
            let row = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&open.display_name()))
                .activatable(true)
                .build();
            let subtitle = match &open {
                Open::Torrent(path) => path.display().to_string(),
                Open::Magnet(_) => gettext("Magnet link"),
            };
            row.set_subtitle(&glib::markup_escape_text(&subtitle));
            row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
            row.connect_activated(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_| window.open(open.clone())
            ));
            imp.recent_list.append(&row);
            shown += 1;
        }
        imp.recent_box.set_visible(shown > 0);
    }

    /// Files and links dropped anywhere on the window, with a highlight
    /// while a drag is over it.
    fn setup_drop_target(&self) {
        let imp = self.imp();
        let target = gtk::DropTarget::new(glib::Type::INVALID, gdk::DragAction::COPY);
        // File lists first: file managers offer text/uri-list; browsers'
        // plain-text links arrive as strings.
        target.set_types(&[gdk::FileList::static_type(), glib::Type::STRING]);
        let area = imp.toast_overlay.get();
        target.connect_enter(glib::clone!(
            #[weak]
            area,
            #[upgrade_or]
            gdk::DragAction::empty(),
            move |_, _, _| {
                area.add_css_class("drop-highlight");
                gdk::DragAction::COPY
            }
        ));
        target.connect_leave(glib::clone!(
            #[weak]
            area,
            move |_| area.remove_css_class("drop-highlight")
        ));
        target.connect_drop(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[upgrade_or]
            false,
            move |_, value, _, _| {
                window
                    .imp()
                    .toast_overlay
                    .remove_css_class("drop-highlight");
                window.handle_drop(value)
            }
        ));
        imp.toast_overlay.add_controller(target);
    }

    /// Returns whether the drop was taken.
    fn handle_drop(&self, value: &glib::Value) -> bool {
        let decision = if let Ok(files) = value.get::<gdk::FileList>() {
            let files = files.files();
            let paths: Vec<PathBuf> = files.iter().filter_map(|file| file.path()).collect();
            if paths.is_empty() {
                // Links GIO cannot map to a path (a magnet in a URI list).
                let uris: Vec<String> = files.iter().map(|file| file.uri().to_string()).collect();
                decide_text(&uris.join("\n"))
            } else {
                decide_files(&paths)
            }
        } else if let Ok(text) = value.get::<String>() {
            decide_text(&text)
        } else {
            Err(Rejection::Nothing)
        };
        tracing::info!(?decision, "dropped");
        match decision {
            Ok(open) => {
                self.open(open);
                true
            }
            Err(rejection) => {
                self.reject(&rejection);
                false
            }
        }
    }

    fn setup_window_state(&self) {
        if let Some(settings) = self.settings() {
            settings
                .bind(Key::WindowWidth.name(), self, "default-width")
                .build();
            settings
                .bind(Key::WindowHeight.name(), self, "default-height")
                .build();
            settings
                .bind(Key::WindowMaximized.name(), self, "maximized")
                .build();
        }
        self.connect_fullscreened_notify(|window| {
            let imp = window.imp();
            let fullscreen = window.is_fullscreen();
            imp.header_bar.set_visible(!fullscreen);
            window.set_action_enabled("leave-fullscreen", fullscreen);
            let (icon, tooltip) = if fullscreen {
                ("view-restore-symbolic", gettext("Leave Fullscreen"))
            } else {
                ("view-fullscreen-symbolic", gettext("Fullscreen"))
            };
            imp.fullscreen_button.set_icon_name(icon);
            imp.fullscreen_button.set_tooltip_text(Some(&tooltip));
            tracing::info!(fullscreen, "fullscreen changed");
        });
    }

    fn create_player(&self) -> anyhow::Result<Player> {
        let sink = self.new_video_sink()?;
        let (player, events) = Player::new(PlayerSinks {
            video: sink,
            audio: None,
        })?;
        player.set_volume(self.imp().volume_button.value());
        let window = self.downgrade();
        glib::spawn_future_local(async move {
            while let Ok(event) = events.recv().await {
                let Some(window) = window.upgrade() else {
                    break;
                };
                window.handle_local_event(event);
            }
        });
        Ok(player)
    }

    /// An event of the player of a local file: shown as a torrent
    /// session's are, and its position kept as theirs is.
    fn handle_local_event(&self, event: PlayerEvent) {
        let seconds = |time: gst::ClockTime| time.nseconds() as f64 / 1e9;
        match event {
            PlayerEvent::State(state) => {
                let previous = self.imp().state.get();
                self.handle_event(event);
                self.playback_state_changed(previous, state);
            }
            PlayerEvent::Progress { position, duration } => {
                self.handle_event(event);
                self.note_position(seconds(position), duration.map(seconds));
            }
            PlayerEvent::StartSeek(start) => self.note_position(seconds(start), None),
            PlayerEvent::Ended { complete: true, .. } => {
                self.handle_event(event);
                self.file_finished();
            }
            event => self.handle_event(event),
        }
    }

    fn with_player(&self, f: impl FnOnce(&Player)) {
        if let Some(player) = self.imp().player.borrow().as_ref() {
            f(player);
        }
    }

    fn setup_controls(&self) {
        let imp = self.imp();
        // `change-value` fires only for the user's moves, never for ours.
        imp.seek_bar.scale().connect_change_value(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, _, value| {
                window.activate_action("seek", Some(&value.to_variant()));
                glib::Propagation::Proceed
            }
        ));
        imp.volume_button.connect_value_changed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, volume| window.activate_action("set-volume", Some(&volume.to_variant()))
        ));

        // Pointer motion over the video brings the controls back.
        let motion = gtk::EventControllerMotion::new();
        motion.connect_motion(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, x, y| {
                if window.imp().pointer_at.replace((x, y)) != (x, y) {
                    window.show_controls();
                }
            }
        ));
        imp.video_overlay.add_controller(motion);
        let over_controls = gtk::EventControllerMotion::new();
        over_controls.connect_enter(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, _, _| window.imp().pointer_over_controls.set(true)
        ));
        over_controls.connect_leave(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| {
                window.imp().pointer_over_controls.set(false);
                window.show_controls();
            }
        ));
        imp.controls.add_controller(over_controls);

        let double_click = gtk::GestureClick::new();
        double_click.connect_pressed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, presses, _, _| {
                if presses == 2 {
                    window.activate_action("toggle-fullscreen", None);
                }
            }
        ));
        imp.picture.add_controller(double_click);
    }

    /// Shows the controls and, while playing, hides them again after
    /// `CONTROLS_HIDE_DELAY` unless the pointer rests on them.
    fn show_controls(&self) {
        let imp = self.imp();
        imp.controls_revealer.set_reveal_child(true);
        imp.video_overlay.set_cursor(None);
        if let Some(pending) = imp.hide_controls.take() {
            pending.remove();
        }
        if imp.state.get() != Some(PlaybackState::Playing) {
            return;
        }
        let source = glib::timeout_add_local_once(
            CONTROLS_HIDE_DELAY,
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                move || {
                    let imp = window.imp();
                    imp.hide_controls.take();
                    if imp.state.get() == Some(PlaybackState::Playing)
                        && !imp.pointer_over_controls.get()
                    {
                        imp.controls_revealer.set_reveal_child(false);
                        imp.video_overlay.set_cursor_from_name(Some("none"));
                    }
                }
            ),
        );
        imp.hide_controls.replace(Some(source));
    }

    fn activate_action(&self, name: &str, parameter: Option<&glib::Variant>) {
        gio::prelude::ActionGroupExt::activate_action(self, name, parameter);
    }

    fn handle_event(&self, event: PlayerEvent) {
        let imp = self.imp();
        match event {
            PlayerEvent::State(state) => {
                imp.state.set(Some(state));
                tracing::info!(?state, "playback state");
                let playing = matches!(state, PlaybackState::Playing | PlaybackState::Stalled);
                let (icon, tooltip) = if playing {
                    ("media-playback-pause-symbolic", gettext("Pause"))
                } else {
                    ("media-playback-start-symbolic", gettext("Play"))
                };
                imp.play_button.set_icon_name(icon);
                imp.play_button.set_tooltip_text(Some(&tooltip));
                self.show_status();
                // Opening and seeking keep what the user asked for last.
                match state {
                    PlaybackState::Playing | PlaybackState::Stalled => self.inhibit(),
                    PlaybackState::Paused | PlaybackState::Ended | PlaybackState::Error => {
                        self.uninhibit()
                    }
                    PlaybackState::Opening
                    | PlaybackState::Prebuffering
                    | PlaybackState::Seeking => {}
                }
                self.show_controls();
                if state == PlaybackState::Playing && !imp.announced_start.replace(true) {
                    tracing::info!("playback started");
                }
            }
            PlayerEvent::Progress { position, duration } => self.show_progress(position, duration),
            PlayerEvent::Ended {
                position,
                duration,
                complete,
            } => {
                if complete {
                    tracing::info!("playback finished");
                } else {
                    let at =
                        |time: Option<gst::ClockTime>| time.map(format_clock).unwrap_or_default();
                    self.show_error(&gettext_f(
                        "The video stopped early, at {} of {}. The file may be incomplete or damaged.",
                        &[&at(position), &at(duration)],
                    ));
                }
            }
            PlayerEvent::Failed(error) => self.show_error(&error.user_message()),
            // Stalls show through the state; the waits themselves are for
            // the playback session.
            PlayerEvent::ReadWait(_) | PlayerEvent::StartSeek(_) => {}
            PlayerEvent::Tracks(tracks) => self.show_tracks(&tracks),
        }
    }

    /// Keeps the session from idling or suspending while a video plays.
    fn inhibit(&self) {
        let imp = self.imp();
        if imp.inhibit_cookie.get().is_some() {
            return;
        }
        let Some(app) = self.application() else {
            return;
        };
        let cookie = app.inhibit(
            Some(self),
            gtk::ApplicationInhibitFlags::IDLE | gtk::ApplicationInhibitFlags::SUSPEND,
            Some(&gettext("Playing a video")),
        );
        tracing::info!(cookie, "inhibited idle and suspend");
        imp.inhibit_cookie.set(Some(cookie));
    }

    fn uninhibit(&self) {
        let Some(cookie) = self.imp().inhibit_cookie.take() else {
            return;
        };
        // 0: no session manager took the request, so there is nothing to release.
        if let Some(app) = self.application().filter(|_| cookie != 0) {
            app.uninhibit(cookie);
        }
        tracing::info!(cookie, "released idle and suspend");
    }

    fn show_progress(&self, position: gst::ClockTime, duration: Option<gst::ClockTime>) {
        let imp = self.imp();
        imp.elapsed_label.set_label(&format_clock(position));
        let seconds = |time: gst::ClockTime| time.nseconds() as f64 / 1e9;
        match duration {
            Some(duration) => {
                imp.duration_label.set_label(&format_clock(duration));
                imp.seek_bar.scale().set_range(0.0, seconds(duration));
                imp.seek_bar.scale().set_sensitive(true);
            }
            None => imp.seek_bar.scale().set_sensitive(false),
        }
        // While a seek is in flight the playhead still reports the old spot.
        if imp.state.get() != Some(PlaybackState::Seeking) {
            imp.seek_bar.scale().set_value(seconds(position));
        }
    }

    fn show_error(&self, sentence: &str) {
        let imp = self.imp();
        tracing::warn!("showing error: {sentence}");
        imp.error_page.set_description(Some(sentence));
        self.show_page("error");
    }
}
