//! The stats panel beside the video: the live run's charts (rates, buffer
//! with stalls and seeks, startup phases), its summary, the piece map of
//! the playing file and the peer table; runs opened for comparison are
//! overlaid on the charts. The window feeds it a [`StatsSnapshot`] once a
//! second while it is shown.

mod peer_table;
mod piece_map;

pub use piece_map::{PieceMap, PieceView};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};
use std::path::PathBuf;

use crate::engine::events::{PeerSnapshot, PieceState};
use crate::i18n::{gettext, gettext_f};
use crate::stats::chart::{self, ChartKind, ChartStyle};
use crate::stats::chart_widget::ChartWidget;
use crate::stats::schema::Run;

/// Height of each chart in the panel, logical pixels.
const CHART_HEIGHT: i32 = 220;

/// Size of a chart saved from the panel, pixels.
const SAVED_CHART_SIZE: (u32, u32) = (1200, 600);

/// What the panel shows of the playing torrent, once a second.
#[derive(Clone, Debug)]
pub struct StatsSnapshot {
    pub run: Run,
    pub pieces: PieceView,
    pub peers: Vec<PeerSnapshot>,
    /// Pieces of the whole torrent, for each peer's share.
    pub piece_count: u32,
}

mod imp {
    use std::cell::{OnceCell, RefCell};

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/stats_panel.ui")]
    pub struct StatsPanel {
        #[template_child]
        pub compare_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub compare_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub startup_value: TemplateChild<gtk::Label>,
        #[template_child]
        pub stalls_value: TemplateChild<gtk::Label>,
        #[template_child]
        pub transferred_value: TemplateChild<gtk::Label>,
        #[template_child]
        pub rates_box: TemplateChild<gtk::Overlay>,
        #[template_child]
        pub buffer_box: TemplateChild<gtk::Overlay>,
        #[template_child]
        pub startup_box: TemplateChild<gtk::Overlay>,
        #[template_child]
        pub piece_map: TemplateChild<PieceMap>,
        #[template_child]
        pub piece_legend: TemplateChild<gtk::Label>,
        #[template_child]
        pub peer_view: TemplateChild<gtk::ColumnView>,
        pub charts: OnceCell<[(ChartKind, ChartWidget); 3]>,
        pub peers: OnceCell<gio::ListStore>,
        pub live: RefCell<Option<Run>>,
        pub compared: RefCell<Vec<Run>>,
        /// Kept alive while the chooser is shown (it is not a widget).
        pub file_chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for StatsPanel {
        const NAME: &'static str = "PiecewiseStatsPanel";
        type Type = super::StatsPanel;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            PieceMap::ensure_type();
            klass.bind_template();
            klass.install_action(
                "panel.save-chart",
                Some(glib::VariantTy::STRING),
                |panel, _, target| {
                    if let Some(target) = target.and_then(|t| t.get::<String>()) {
                        panel.choose_chart_file(&target);
                    }
                },
            );
            klass.install_action("panel.clear-comparison", None, |panel, _, _| {
                panel.compare(Vec::new());
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for StatsPanel {
        fn constructed(&self) {
            self.parent_constructed();
            let chart = |kind, parent: &gtk::Overlay| {
                let widget = ChartWidget::new(kind);
                widget.set_content_height(CHART_HEIGHT);
                widget.set_hexpand(true);
                parent.set_child(Some(&widget));
                (kind, widget)
            };
            let _ = self.charts.set([
                chart(ChartKind::Rates, &self.rates_box),
                chart(ChartKind::Buffer, &self.buffer_box),
                chart(ChartKind::Startup, &self.startup_box),
            ]);
            let _ = self.peers.set(peer_table::set_up(&self.peer_view));
            self.piece_legend.set_markup(&piece_legend());
            let legend = self.piece_legend.get();
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak]
                legend,
                move |_| legend.set_markup(&piece_legend())
            ));
            self.obj().show_summary();
        }
    }

    impl WidgetImpl for StatsPanel {}
    impl BoxImpl for StatsPanel {}
}

glib::wrapper! {
    pub struct StatsPanel(ObjectSubclass<imp::StatsPanel>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl StatsPanel {
    /// The live run, pieces and peers of the playing torrent.
    pub fn show_snapshot(&self, snapshot: StatsSnapshot) {
        let imp = self.imp();
        imp.piece_map.set_view(snapshot.pieces);
        if let Some(store) = imp.peers.get() {
            peer_table::show_peers(store, &snapshot.peers, snapshot.piece_count);
        }
        imp.live.replace(Some(snapshot.run));
        self.show_runs();
    }

    /// Forgets the live run (a new video opens).
    pub fn clear_live(&self) {
        let imp = self.imp();
        imp.live.take();
        imp.piece_map.set_view(PieceView::default());
        if let Some(store) = imp.peers.get() {
            store.remove_all();
        }
        self.show_runs();
    }

    /// The live run so far, if a torrent plays.
    pub fn live_run(&self) -> Option<Run> {
        self.imp().live.borrow().clone()
    }

    /// Overlays `runs` (read from exported files) on the charts; an empty
    /// list stops comparing.
    pub fn compare(&self, runs: Vec<Run>) {
        let imp = self.imp();
        let names: Vec<&str> = runs.iter().map(Run::label).collect();
        imp.compare_box.set_visible(!runs.is_empty());
        imp.compare_label
            .set_label(&gettext_f("Comparing with {}", &[&names.join(", ")]));
        tracing::info!(runs = runs.len(), "comparing runs");
        imp.compared.replace(runs);
        self.show_runs();
    }

    /// The runs on the charts: the compared ones, then the live one.
    fn runs(&self) -> Vec<Run> {
        let imp = self.imp();
        let mut runs = imp.compared.borrow().clone();
        runs.extend(imp.live.borrow().iter().cloned());
        runs
    }

    fn show_runs(&self) {
        let runs = self.runs();
        if let Some(charts) = self.imp().charts.get() {
            for (_, chart) in charts {
                chart.set_runs(runs.clone());
            }
        }
        self.show_summary();
    }

    /// The summary lines of the live run, or of the last compared one.
    fn show_summary(&self) {
        let imp = self.imp();
        let live = imp.live.borrow();
        let compared = imp.compared.borrow();
        let Some(run) = live.as_ref().or(compared.last()) else {
            for label in [
                &imp.startup_value,
                &imp.stalls_value,
                &imp.transferred_value,
            ] {
                label.set_label("–");
            }
            return;
        };
        imp.startup_value.set_label(&startup_text(run));
        let summary = &run.summary;
        imp.stalls_value.set_label(&gettext_f(
            "{} stalls, {} s in total",
            &[
                &summary.stall_count.to_string(),
                &format!("{:.1}", summary.stall_seconds),
            ],
        ));
        let ratio = summary
            .share_ratio
            .map_or_else(|| String::from("–"), |ratio| format!("{ratio:.2}"));
        imp.transferred_value.set_label(&gettext_f(
            "↓ {} · ↑ {} · share ratio {}",
            &[
                &glib::format_size(summary.bytes_down),
                &glib::format_size(summary.bytes_up),
                &ratio,
            ],
        ));
    }

    /// Asks where to save chart `target` ("rates:png", "buffer:svg", …).
    fn choose_chart_file(&self, target: &str) {
        let Some((kind, format)) = parse_chart_target(target) else {
            return;
        };
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Save Chart")),
            self.root().and_downcast_ref::<gtk::Window>(),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            None,
        );
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&format.to_uppercase()));
        filter.add_suffix(format);
        chooser.add_filter(&filter);
        chooser.set_current_name(&format!("{}.{format}", chart_name(kind)));
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = panel)]
            self,
            move |chooser, response| {
                panel.imp().file_chooser.take();
                if response != gtk::ResponseType::Accept {
                    return;
                }
                if let Some(path) = chooser.file().and_then(|file| file.path()) {
                    panel.save_chart(kind, with_extension(path, format));
                }
            }
        ));
        chooser.show();
        self.imp().file_chooser.replace(Some(chooser));
    }

    /// Draws the chart into `path` off the main loop, then says so.
    fn save_chart(&self, kind: ChartKind, path: PathBuf) {
        let runs = self.runs();
        let style = ChartStyle::for_dark(adw::StyleManager::default().is_dark());
        let panel = self.downgrade();
        glib::spawn_future_local(async move {
            let target = path.clone();
            let saved = gio::spawn_blocking(move || {
                chart::save(&target, &runs, kind, &style, SAVED_CHART_SIZE)
            })
            .await;
            let message = match saved {
                Ok(Ok(())) => {
                    tracing::info!(path = %path.display(), "saved chart");
                    gettext_f("Saved the chart as {}", &[&path.display().to_string()])
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => gettext("The chart could not be drawn."),
            };
            if let Some(panel) = panel.upgrade() {
                panel.toast(&message);
            }
        });
    }

    fn toast(&self, message: &str) {
        tracing::info!("toast: {message}");
        if let Some(overlay) = self
            .ancestor(adw::ToastOverlay::static_type())
            .and_downcast::<adw::ToastOverlay>()
        {
            overlay.add_toast(adw::Toast::new(message));
        }
    }
}

/// "rates:png" → (Rates, "png").
fn parse_chart_target(target: &str) -> Option<(ChartKind, &'static str)> {
    let (kind, format) = target.split_once(':')?;
    let format = match format {
        "png" => "png",
        "svg" => "svg",
        _ => return None,
    };
    let kind = kind.parse().ok()?;
    Some((kind, format))
}

fn chart_name(kind: ChartKind) -> &'static str {
    match kind {
        ChartKind::Rates => "rates",
        ChartKind::Buffer => "buffer",
        ChartKind::Startup => "startup",
        ChartKind::All => "charts",
    }
}

/// `path` with `.extension` added unless it already ends so.
pub fn with_extension(path: PathBuf, extension: &str) -> PathBuf {
    let has = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case(extension));
    if has {
        path
    } else {
        let mut name = path.into_os_string();
        name.push(".");
        name.push(extension);
        PathBuf::from(name)
    }
}

/// "1.6 s: metadata 0.1 s, first peer 0.2 s, …" — the startup delay and
/// its parts, or a dash before the first frame.
fn startup_text(run: &Run) -> String {
    let Some(first_frame) = run.summary.first_frame_s else {
        return String::from("–");
    };
    let [launch, metadata, first_peer, prebuffering, frame] = run.startup_phases();
    let seconds = |value: f64| format!("{value:.1}");
    gettext_f(
        "{} s: launch {} s, metadata {} s, first peer {} s, prebuffering {} s, first frame {} s",
        &[
            &seconds(first_frame),
            &seconds(launch),
            &seconds(metadata),
            &seconds(first_peer),
            &seconds(prebuffering),
            &seconds(frame),
        ],
    )
}

/// The piece map's legend, each word in its state's colour.
fn piece_legend() -> String {
    let dark = adw::StyleManager::default().is_dark();
    let swatch = |state: PieceState, word: String| {
        let colour = piece_map::state_colour(state, dark);
        format!(
            "<span foreground=\"#{:02x}{:02x}{:02x}\">■</span> {}",
            (colour.red() * 255.0).round() as u8,
            (colour.green() * 255.0).round() as u8,
            (colour.blue() * 255.0).round() as u8,
            glib::markup_escape_text(&word),
        )
    };
    [
        swatch(PieceState::Verified, gettext("verified")),
        swatch(PieceState::Downloading, gettext("in flight")),
        swatch(PieceState::TimeCritical, gettext("time-critical")),
        swatch(PieceState::Missing, gettext("missing")),
    ]
    .join("   ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_targets_name_a_chart_and_a_format() {
        assert_eq!(
            parse_chart_target("rates:png"),
            Some((ChartKind::Rates, "png"))
        );
        assert_eq!(
            parse_chart_target("startup:svg"),
            Some((ChartKind::Startup, "svg"))
        );
        assert_eq!(parse_chart_target("rates:gif"), None);
        assert_eq!(parse_chart_target("pies:png"), None);
        assert_eq!(parse_chart_target("rates"), None);
    }

    #[test]
    fn saved_files_get_the_chosen_format_extension_once() {
        assert_eq!(
            with_extension(PathBuf::from("/tmp/run"), "png"),
            PathBuf::from("/tmp/run.png")
        );
        assert_eq!(
            with_extension(PathBuf::from("/tmp/run.SVG"), "svg"),
            PathBuf::from("/tmp/run.SVG")
        );
        assert_eq!(
            with_extension(PathBuf::from("/tmp/run.v1"), "json"),
            PathBuf::from("/tmp/run.v1.json")
        );
    }
}
