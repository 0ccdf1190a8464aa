//! The audio and subtitle menus of the overlay controls. Each item is a
//! target of the window's stateful actions `win.audio-track` and
//! `win.subtitle-track` (an `i32`: the track's index, `-1` for subtitles
//! off), so the menus show the playing track as the actions' state, which
//! the window sets from what playbin reports, never from the click. The
//! audio menu hides with fewer than two tracks, the subtitle menu without
//! subtitles. The items' words are GTK-free and table-tested.

use crate::i18n::gettext_f;
use crate::player::{Track, Tracks};
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

/// The window's action choosing the audio track.
pub const AUDIO_ACTION: &str = "audio-track";
/// The window's action choosing the subtitle track, or none.
pub const SUBTITLE_ACTION: &str = "subtitle-track";
/// The actions' value for no track: subtitles off, or no audio.
pub const NO_TRACK: i32 = -1;

/// One menu item per track: its language, else its title, else its
/// number. Tracks that would read the same add their title (GStreamer's
/// muxers title every track "Audio", so a title alone says little), and
/// then their number.
pub fn track_labels(tracks: &[Track]) -> Vec<String> {
    let numbered = |index: usize| (index + 1).to_string();
    let plain: Vec<String> = tracks
        .iter()
        .enumerate()
        .map(|(index, track)| match (&track.language, &track.title) {
            (Some(name), _) | (None, Some(name)) => name.clone(),
            // Translators: an audio or subtitle track without a language or title.
            (None, None) => gettext_f("Track {}", &[&numbered(index)]),
        })
        .collect();
    let shared = |labels: &[String], label: &String| {
        labels.iter().filter(|other| *other == label).count() > 1
    };
    let titled: Vec<String> = plain
        .iter()
        .zip(tracks)
        .map(|(label, track)| match (&track.language, &track.title) {
            (Some(language), Some(title)) if shared(&plain, label) && title != language => {
                format!("{language} ({title})")
            }
            _ => label.clone(),
        })
        .collect();
    titled
        .iter()
        .enumerate()
        .map(|(index, label)| {
            if shared(&titled, label) {
                // Translators: a track name shared by several tracks, then the track's number.
                gettext_f("{} (track {})", &[label, &numbered(index)])
            } else {
                label.clone()
            }
        })
        .collect()
}

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/track-menus.ui")]
    pub struct PiecewiseTrackMenus {
        #[template_child]
        pub audio_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub subtitle_button: TemplateChild<gtk::MenuButton>,
        /// The items shown, audio then subtitles: menus are rebuilt only
        /// when they change, so an open menu stays open while the
        /// playing track changes.
        pub labels: RefCell<(Vec<String>, Vec<String>)>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewiseTrackMenus {
        const NAME: &'static str = "PiecewiseTrackMenus";
        type Type = super::PiecewiseTrackMenus;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewiseTrackMenus {}
    impl WidgetImpl for PiecewiseTrackMenus {}
    impl BoxImpl for PiecewiseTrackMenus {}
}

glib::wrapper! {
    pub struct PiecewiseTrackMenus(ObjectSubclass<imp::PiecewiseTrackMenus>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl PiecewiseTrackMenus {
    /// Shows the menus for `tracks` (the default, no tracks, hides both).
    pub fn show_tracks(&self, tracks: &Tracks) {
        let imp = self.imp();
        let labels = (track_labels(&tracks.audio), track_labels(&tracks.text));
        imp.audio_button.set_visible(labels.0.len() > 1);
        imp.subtitle_button.set_visible(!labels.1.is_empty());
        if *imp.labels.borrow() == labels {
            return;
        }
        let audio = gio::Menu::new();
        for (index, label) in labels.0.iter().enumerate() {
            audio.append_item(&item(label, AUDIO_ACTION, index_target(index)));
        }
        imp.audio_button.set_menu_model(Some(&audio));
        let subtitles = gio::Menu::new();
        subtitles.append_item(&item(
            &crate::i18n::gettext("Off"),
            SUBTITLE_ACTION,
            NO_TRACK,
        ));
        let tracks = gio::Menu::new();
        for (index, label) in labels.1.iter().enumerate() {
            tracks.append_item(&item(label, SUBTITLE_ACTION, index_target(index)));
        }
        subtitles.append_section(None, &tracks);
        imp.subtitle_button.set_menu_model(Some(&subtitles));
        imp.labels.replace(labels);
    }
}

fn index_target(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

fn item(label: &str, action: &str, target: i32) -> gio::MenuItem {
    let item = gio::MenuItem::new(Some(label), None);
    item.set_action_and_target_value(Some(&format!("win.{action}")), Some(&target.to_variant()));
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(language: Option<&str>, title: Option<&str>) -> Track {
        Track {
            language: language.map(str::to_owned),
            title: title.map(str::to_owned),
        }
    }

    #[test]
    fn track_labels_name_languages_titles_and_number_the_rest() {
        let cases: [(Vec<Track>, Vec<&str>); 6] = [
            (
                vec![
                    track(Some("English"), Some("Audio")),
                    track(Some("French"), Some("Audio")),
                ],
                vec!["English", "French"],
            ),
            (
                vec![track(None, None), track(None, None)],
                vec!["Track 1", "Track 2"],
            ),
            (
                vec![track(None, Some("Stereo")), track(Some("German"), None)],
                vec!["Stereo", "German"],
            ),
            (
                vec![
                    track(Some("English"), None),
                    track(Some("English"), Some("Commentary")),
                ],
                vec!["English", "English (Commentary)"],
            ),
            (
                vec![
                    track(Some("English"), Some("Audio")),
                    track(Some("English"), Some("Audio")),
                ],
                vec!["English (Audio) (track 1)", "English (Audio) (track 2)"],
            ),
            (vec![], vec![]),
        ];
        for (tracks, expected) in cases {
            assert_eq!(track_labels(&tracks), expected, "{tracks:?}");
        }
    }
}
