//! The chooser of a multi-file torrent's videos: one row per playable file
//! (name, size), the largest selected, and a Play button
//! (`win.play-chosen-file`) that plays the selected one.

use crate::player::file_choice::PlayableFile;
use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/video-chooser.ui")]
    pub struct PiecewiseVideoChooser {
        #[template_child]
        pub status_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub play_button: TemplateChild<gtk::Button>,
        pub rows: RefCell<Vec<adw::ActionRow>>,
        /// The torrent file index of the selected row.
        pub selected: Cell<Option<usize>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewiseVideoChooser {
        const NAME: &'static str = "PiecewiseVideoChooser";
        type Type = super::PiecewiseVideoChooser;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewiseVideoChooser {}
    impl WidgetImpl for PiecewiseVideoChooser {}
    impl BinImpl for PiecewiseVideoChooser {}
}

glib::wrapper! {
    pub struct PiecewiseVideoChooser(ObjectSubclass<imp::PiecewiseVideoChooser>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl PiecewiseVideoChooser {
    /// Lists `files` of the torrent `name`, `selected` (a file index)
    /// chosen, and gives the Play button the focus.
    pub fn set_files(&self, name: &str, files: &[PlayableFile], selected: usize) {
        let imp = self.imp();
        for row in imp.rows.take() {
            imp.group.remove(&row);
        }
        imp.status_page.set_description(Some(name));
        let mut group_leader: Option<gtk::CheckButton> = None;
        for file in files {
            let (title, folder) = split_path(&file.path);
            let size = glib::format_size(file.length).to_string();
            let subtitle = match folder {
                Some(folder) => format!("{size} · {folder}"),
                None => size,
            };
            let row = adw::ActionRow::builder()
                .title(glib::markup_escape_text(title))
                .subtitle(glib::markup_escape_text(&subtitle))
                .build();
            let check = gtk::CheckButton::builder()
                .valign(gtk::Align::Center)
                .active(file.index == selected)
                .build();
            check.set_group(group_leader.as_ref());
            group_leader.get_or_insert_with(|| check.clone());
            let index = file.index;
            check.connect_toggled(glib::clone!(
                #[weak(rename_to = chooser)]
                self,
                move |check| {
                    if check.is_active() {
                        chooser.imp().selected.set(Some(index));
                    }
                }
            ));
            row.add_prefix(&check);
            row.set_activatable_widget(Some(&check));
            imp.group.add(&row);
            imp.rows.borrow_mut().push(row);
        }
        imp.selected.set(
            files
                .iter()
                .any(|f| f.index == selected)
                .then_some(selected),
        );
        imp.play_button.grab_focus();
    }

    /// The torrent file index of the selected video.
    pub fn selected(&self) -> Option<usize> {
        self.imp().selected.get()
    }
}

/// A path inside a torrent as the file's name and, when the file is in a
/// sub-folder of the torrent's own folder, that sub-folder.
fn split_path(path: &str) -> (&str, Option<&str>) {
    let Some((parent, name)) = path.rsplit_once('/') else {
        return (path, None);
    };
    // The first component is the torrent's folder: the same for every file.
    let folder = parent.split_once('/').map(|(_, inner)| inner);
    (name, folder)
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn rows_show_the_name_and_the_folder_inside_the_torrent() {
        assert_eq!(split_path("Show/S01E01.mkv"), ("S01E01.mkv", None));
        assert_eq!(
            split_path("Show/Season 1/S01E01.mkv"),
            ("S01E01.mkv", Some("Season 1"))
        );
        assert_eq!(split_path("single.mp4"), ("single.mp4", None));
    }
}
