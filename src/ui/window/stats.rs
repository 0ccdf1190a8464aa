//! The window's side of the stats panel: showing it (header-bar button,
//! F9), exporting the live run and opening runs to compare.

use super::*;
use crate::stats::export;
use crate::ui::stats_panel::with_extension;

impl PiecewiseWindow {
    pub(super) fn setup_stats(&self) {
        let imp = self.imp();
        let toggle = gio::ActionEntry::builder("toggle-stats")
            .state(false.to_variant())
            .activate(|window: &Self, action, _| {
                let shown = !action
                    .state()
                    .and_then(|s| s.get::<bool>())
                    .unwrap_or(false);
                action.set_state(&shown.to_variant());
                window.imp().stats_flap.set_reveal_flap(shown);
            })
            .build();
        let export = gio::ActionEntry::builder("export-stats")
            .activate(|window: &Self, _, _| window.choose_export_file())
            .build();
        let export_to = gio::ActionEntry::builder("export-stats-to")
            .parameter_type(Some(glib::VariantTy::STRING))
            .activate(|window: &Self, _, target| {
                if let Some(path) = target.and_then(|t| t.get::<String>()) {
                    window.export_stats(PathBuf::from(path));
                }
            })
            .build();
        let compare = gio::ActionEntry::builder("compare-runs")
            .activate(|window: &Self, _, _| window.choose_runs_to_compare())
            .build();
        let compare_files = gio::ActionEntry::builder("compare-runs-from")
            .parameter_type(Some(glib::VariantTy::STRING_ARRAY))
            .activate(|window: &Self, _, target| {
                if let Some(paths) = target.and_then(|t| t.get::<Vec<String>>()) {
                    window.compare_runs(paths.into_iter().map(PathBuf::from).collect());
                }
            })
            .build();
        self.add_action_entries([toggle, export, export_to, compare, compare_files]);
        // Only a shown panel gets snapshots: a hidden one costs nothing.
        imp.stats_flap.connect_reveal_flap_notify(|flap| {
            let Some(window) = flap.root().and_downcast::<Self>() else {
                return;
            };
            let shown = flap.reveals_flap();
            tracing::info!(shown, "stats panel");
            if let Some(torrent) = window.imp().torrent.borrow().as_ref() {
                torrent.send(PlaybackCommand::WatchStats(shown));
            }
        });
    }

    /// "Export Statistics…": JSON (the whole run) or CSV (the series).
    fn choose_export_file(&self) {
        if self.imp().torrent.borrow().is_none() {
            self.toast(&gettext("Play a torrent to record statistics."));
            return;
        }
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Export Statistics")),
            Some(self),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Export")),
            None,
        );
        let filters = [
            (gettext("JSON (whole run)"), "json"),
            (gettext("CSV (once-a-second series)"), "csv"),
        ];
        for (name, suffix) in &filters {
            let filter = gtk::FileFilter::new();
            filter.set_name(Some(name));
            filter.add_suffix(suffix);
            chooser.add_filter(&filter);
        }
        chooser.set_current_name("piecewise-run.json");
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |chooser, response| {
                window.imp().file_chooser.take();
                let Some(path) = chooser.file().and_then(|file| file.path()) else {
                    return;
                };
                if response != gtk::ResponseType::Accept {
                    return;
                }
                let csv_chosen = chooser
                    .filter()
                    .and_then(|filter| filter.name())
                    .is_some_and(|name| name.as_str() == filters[1].0);
                let format = if csv_chosen || path.extension().is_some_and(|e| e == "csv") {
                    "csv"
                } else {
                    "json"
                };
                // The chosen filter wins over the suggested name's ending.
                let path = if path.extension().is_some_and(|e| e == "json" || e == "csv") {
                    path.with_extension(format)
                } else {
                    with_extension(path, format)
                };
                window.export_stats(path);
            }
        ));
        chooser.show();
        self.imp().file_chooser.replace(Some(chooser));
    }

    /// The session thread writes the file; `exported` reports it.
    fn export_stats(&self, path: PathBuf) {
        match self.imp().torrent.borrow().as_ref() {
            Some(torrent) => torrent.send(PlaybackCommand::ExportStats(path)),
            None => self.toast(&gettext("Play a torrent to record statistics.")),
        }
    }

    pub(super) fn exported(&self, result: Result<PathBuf, String>) {
        match result {
            Ok(path) => {
                tracing::info!(path = %path.display(), "exported statistics");
                self.toast(&gettext_f(
                    "Statistics exported to {}",
                    &[&path.display().to_string()],
                ));
            }
            Err(sentence) => self.toast(&sentence),
        }
    }

    /// "Compare Runs…": one or more exported JSON files.
    fn choose_runs_to_compare(&self) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Compare Runs")),
            Some(self),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Compare")),
            None,
        );
        chooser.set_select_multiple(true);
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("Exported statistics (JSON)")));
        filter.add_suffix("json");
        chooser.add_filter(&filter);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |chooser, response| {
                window.imp().file_chooser.take();
                if response != gtk::ResponseType::Accept {
                    return;
                }
                let files = chooser.files();
                let paths: Vec<PathBuf> = files
                    .iter::<gio::File>()
                    .filter_map(|file| file.ok()?.path())
                    .collect();
                window.compare_runs(paths);
            }
        ));
        chooser.show();
        self.imp().file_chooser.replace(Some(chooser));
    }

    /// Reads `paths` off the main loop, then overlays them and shows the
    /// panel.
    fn compare_runs(&self, paths: Vec<PathBuf>) {
        let window = self.downgrade();
        glib::spawn_future_local(async move {
            let read = gio::spawn_blocking(move || export::read_runs(&paths)).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match read {
                Ok(Ok(runs)) => {
                    window.imp().stats_panel.compare(runs);
                    if !window.imp().stats_flap.reveals_flap() {
                        window.activate_action("toggle-stats", None);
                    }
                }
                Ok(Err(error)) => window.toast(&error.to_string()),
                Err(_) => window.toast(&gettext("The files could not be read.")),
            }
        });
    }
}
