//! The preferences window, bound to GSettings.

use crate::i18n::gettext;
use crate::ui::settings::{Key, ORIGIN_USE_NICKS, PIECE_POLICY_NICKS};
use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/preferences.ui")]
    pub struct PiecewisePreferences {
        #[template_child]
        pub folder_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub folder_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub keep_switch: TemplateChild<gtk::Switch>,
        #[template_child]
        pub disk_limit_spin: TemplateChild<gtk::SpinButton>,
        #[template_child]
        pub download_limit_spin: TemplateChild<gtk::SpinButton>,
        #[template_child]
        pub upload_limit_spin: TemplateChild<gtk::SpinButton>,
        #[template_child]
        pub port_spin: TemplateChild<gtk::SpinButton>,
        #[template_child]
        pub policy_row: TemplateChild<adw::ComboRow>,
        #[template_child]
        pub origin_row: TemplateChild<adw::ComboRow>,
        /// Kept alive while the chooser is shown (it is not a widget).
        pub folder_chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewisePreferences {
        const NAME: &'static str = "PiecewisePreferences";
        type Type = super::PiecewisePreferences;
        type ParentType = adw::PreferencesWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewisePreferences {}
    impl WidgetImpl for PiecewisePreferences {}
    impl WindowImpl for PiecewisePreferences {}
    impl AdwWindowImpl for PiecewisePreferences {}
    impl PreferencesWindowImpl for PiecewisePreferences {}
}

glib::wrapper! {
    pub struct PiecewisePreferences(ObjectSubclass<imp::PiecewisePreferences>)
        @extends adw::PreferencesWindow, adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
            gtk::Root, gtk::ShortcutManager;
}

impl PiecewisePreferences {
    /// The window over `parent`; without settings every row is insensitive.
    pub fn new(parent: &impl IsA<gtk::Window>, settings: Option<&gio::Settings>) -> Self {
        let window: Self = glib::Object::builder()
            .property("transient-for", parent)
            .property("modal", true)
            .build();
        match settings {
            Some(settings) => window.bind(settings),
            None => window.set_sensitive(false),
        }
        window
    }

    fn bind(&self, settings: &gio::Settings) {
        let imp = self.imp();
        settings
            .bind(Key::KeepDataOnClose.name(), &*imp.keep_switch, "active")
            .build();
        for (key, spin) in [
            (Key::DiskSpaceLimitMib, &imp.disk_limit_spin),
            (Key::DownloadRateLimitKib, &imp.download_limit_spin),
            (Key::UploadRateLimitKib, &imp.upload_limit_spin),
            (Key::ListenPort, &imp.port_spin),
        ] {
            settings.bind(key.name(), &**spin, "value").build();
        }
        for (key, row, nicks) in [
            (Key::PiecePolicy, &imp.policy_row, PIECE_POLICY_NICKS),
            (Key::OriginUse, &imp.origin_row, ORIGIN_USE_NICKS),
        ] {
            settings
                .bind(key.name(), &**row, "selected")
                .mapping(move |variant, _| {
                    let nick = variant.str()?;
                    let index = nicks.iter().position(|n| *n == nick)?;
                    Some((index as u32).to_value())
                })
                .set_mapping(move |value, _| {
                    let index = value.get::<u32>().ok()?;
                    nicks
                        .get(usize::try_from(index).ok()?)
                        .map(|nick| nick.to_variant())
                })
                .build();
        }
        settings
            .bind(Key::DownloadFolder.name(), &*imp.folder_row, "subtitle")
            .get_only()
            .mapping(|variant, _| {
                let folder = variant.str()?;
                Some(if folder.is_empty() {
                    gettext("The Downloads folder").to_value()
                } else {
                    folder.to_value()
                })
            })
            .build();
        imp.folder_button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[strong]
            settings,
            move |_| window.choose_folder(&settings)
        ));
    }

    fn choose_folder(&self, settings: &gio::Settings) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Download Folder")),
            Some(self),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettext("_Select")),
            None,
        );
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[strong]
            settings,
            move |chooser, response| {
                let folder = chooser.file().and_then(|file| file.path());
                if let (gtk::ResponseType::Accept, Some(folder)) = (response, folder) {
                    let folder = folder.to_string_lossy();
                    if let Err(error) = settings.set_string(Key::DownloadFolder.name(), &folder) {
                        tracing::warn!(%error, "cannot save the download folder");
                    }
                }
                window.imp().folder_chooser.take();
            }
        ));
        chooser.show();
        self.imp().folder_chooser.replace(Some(chooser));
    }
}
