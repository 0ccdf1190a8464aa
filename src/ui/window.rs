//! The player window: video, controls and an error page.

use crate::i18n::{gettext, gettext_f};
use crate::player::{PlaybackState, Player, PlayerEvent, PlayerSinks};
use crate::ui::format_clock;
use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gdk, glib};

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/window.ui")]
    pub struct PiecewiseWindow {
        #[template_child]
        pub window_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub picture: TemplateChild<gtk::Picture>,
        #[template_child]
        pub play_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub elapsed_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub seek_scale: TemplateChild<gtk::Scale>,
        #[template_child]
        pub duration_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub volume_button: TemplateChild<gtk::VolumeButton>,
        #[template_child]
        pub error_page: TemplateChild<adw::StatusPage>,
        pub player: RefCell<Option<Player>>,
        pub state: Cell<Option<PlaybackState>>,
        /// Logged once per opened video, for people and tests watching stderr.
        pub announced_start: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewiseWindow {
        const NAME: &'static str = "PiecewiseWindow";
        type Type = super::PiecewiseWindow;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("win.play-pause", None, |window, _, _| {
                window.with_player(Player::toggle_play);
            });
            klass.install_action(
                "win.seek",
                Some(glib::VariantTy::DOUBLE),
                |window, _, target| {
                    if let Some(seconds) = target.and_then(|t| t.get::<f64>()) {
                        let position =
                            gst::ClockTime::from_nseconds((seconds.max(0.0) * 1e9) as u64);
                        window.with_player(|player| player.seek(position));
                    }
                },
            );
            klass.install_action(
                "win.set-volume",
                Some(glib::VariantTy::DOUBLE),
                |window, _, target| {
                    if let Some(volume) = target.and_then(|t| t.get::<f64>()) {
                        window.with_player(|player| player.set_volume(volume));
                    }
                },
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewiseWindow {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().setup_controls();
        }

        fn dispose(&self) {
            // Stops the pipeline before the widgets it renders into go away.
            self.player.take();
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
        @implements gtk::gio::ActionGroup, gtk::gio::ActionMap, gtk::Accessible, gtk::Buildable,
            gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl PiecewiseWindow {
    pub fn new(application: &adw::Application) -> Self {
        glib::Object::builder()
            .property("application", application)
            .build()
    }

    /// Plays `uri` (a `file://` URI or any URI GStreamer reads), replacing
    /// what was playing.
    pub fn open_uri(&self, uri: &str, title: &str) {
        let imp = self.imp();
        imp.window_title.set_subtitle(title);
        imp.announced_start.set(false);
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
        imp.elapsed_label
            .set_label(&format_clock(gst::ClockTime::ZERO));
        imp.duration_label
            .set_label(&format_clock(gst::ClockTime::ZERO));
        imp.seek_scale.set_value(0.0);
        imp.seek_scale.set_sensitive(false);
        imp.stack.set_visible_child_name("video");
        tracing::info!(%uri, "opening");
        self.with_player(|player| player.open(uri));
    }

    fn create_player(&self) -> anyhow::Result<Player> {
        let sink = gst::ElementFactory::make("gtk4paintablesink").build()?;
        let paintable = sink.property::<gdk::Paintable>("paintable");
        self.imp().picture.set_paintable(Some(&paintable));
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
                window.handle_event(event);
            }
        });
        Ok(player)
    }

    fn with_player(&self, f: impl FnOnce(&Player)) {
        if let Some(player) = self.imp().player.borrow().as_ref() {
            f(player);
        }
    }

    fn setup_controls(&self) {
        let imp = self.imp();
        // `change-value` fires only for the user's moves, never for ours.
        imp.seek_scale.connect_change_value(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, _, value| {
                if let Err(error) =
                    WidgetExt::activate_action(&window, "win.seek", Some(&value.to_variant()))
                {
                    tracing::warn!(%error, "seek action failed");
                }
                glib::Propagation::Proceed
            }
        ));
        imp.volume_button.connect_value_changed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, volume| {
                if let Err(error) = WidgetExt::activate_action(
                    &window,
                    "win.set-volume",
                    Some(&volume.to_variant()),
                ) {
                    tracing::warn!(%error, "volume action failed");
                }
            }
        ));
    }

    fn handle_event(&self, event: PlayerEvent) {
        let imp = self.imp();
        match event {
            PlayerEvent::State(state) => {
                imp.state.set(Some(state));
                let playing = matches!(state, PlaybackState::Playing | PlaybackState::Stalled);
                let (icon, tooltip) = if playing {
                    ("media-playback-pause-symbolic", gettext("Pause"))
                } else {
                    ("media-playback-start-symbolic", gettext("Play"))
                };
                imp.play_button.set_icon_name(icon);
                imp.play_button.set_tooltip_text(Some(&tooltip));
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
            PlayerEvent::ReadWait(_) => {}
        }
    }

    fn show_progress(&self, position: gst::ClockTime, duration: Option<gst::ClockTime>) {
        let imp = self.imp();
        imp.elapsed_label.set_label(&format_clock(position));
        let seconds = |time: gst::ClockTime| time.nseconds() as f64 / 1e9;
        match duration {
            Some(duration) => {
                imp.duration_label.set_label(&format_clock(duration));
                imp.seek_scale.set_range(0.0, seconds(duration));
                imp.seek_scale.set_sensitive(true);
            }
            None => imp.seek_scale.set_sensitive(false),
        }
        // While a seek is in flight the playhead still reports the old spot.
        if imp.state.get() != Some(PlaybackState::Seeking) {
            imp.seek_scale.set_value(seconds(position));
        }
    }

    fn show_error(&self, sentence: &str) {
        let imp = self.imp();
        tracing::warn!("showing error: {sentence}");
        imp.error_page.set_description(Some(sentence));
        imp.stack.set_visible_child_name("error");
    }
}
