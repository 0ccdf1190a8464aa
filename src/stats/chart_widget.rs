//! The chart as a GTK widget: a `DrawingArea` that draws the same chart
//! functions through cairo (vector, so crisp at any scale factor), in the
//! light or dark style of the desktop. The only GTK code in `stats`.

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_cairo::CairoBackend;

use crate::stats::chart::{self, ChartError, ChartKind, ChartStyle};
use crate::stats::schema::{Run, Sample};

mod imp {
    use std::cell::{Cell, RefCell};

    use super::*;

    pub struct ChartWidget {
        pub runs: RefCell<Vec<Run>>,
        pub kind: Cell<ChartKind>,
    }

    impl Default for ChartWidget {
        fn default() -> Self {
            Self {
                runs: RefCell::default(),
                kind: Cell::new(ChartKind::All),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ChartWidget {
        const NAME: &'static str = "PiecewiseChartWidget";
        type Type = super::ChartWidget;
        type ParentType = gtk::DrawingArea;
    }

    impl ObjectImpl for ChartWidget {
        fn constructed(&self) {
            self.parent_constructed();
            let widget = self.obj();
            widget.set_draw_func(|area, context, width, height| {
                let Some(widget) = area.downcast_ref::<super::ChartWidget>() else {
                    return;
                };
                let imp = widget.imp();
                let style = ChartStyle::for_dark(adw::StyleManager::default().is_dark());
                let size = (
                    u32::try_from(width).unwrap_or(0),
                    u32::try_from(height).unwrap_or(0),
                );
                if let Err(error) =
                    super::paint(context, size, &imp.runs.borrow(), imp.kind.get(), &style)
                {
                    tracing::warn!("{error}");
                }
            });
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak]
                widget,
                move |_| widget.queue_draw()
            ));
        }
    }

    impl WidgetImpl for ChartWidget {}
    impl DrawingAreaImpl for ChartWidget {}
}

glib::wrapper! {
    pub struct ChartWidget(ObjectSubclass<imp::ChartWidget>)
        @extends gtk::DrawingArea, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl ChartWidget {
    pub fn new(kind: ChartKind) -> Self {
        let widget: Self = glib::Object::new();
        widget.imp().kind.set(kind);
        widget
    }

    /// Shows `runs`, overlaid; the last one is the live run that
    /// [`push_sample`](Self::push_sample) extends.
    pub fn set_runs(&self, runs: Vec<Run>) {
        self.imp().runs.replace(runs);
        self.queue_draw();
    }

    /// Appends the live run's newest once-a-second sample and redraws.
    pub fn push_sample(&self, sample: Sample) {
        if let Some(live) = self.imp().runs.borrow_mut().last_mut() {
            live.series.push(sample);
        }
        self.queue_draw();
    }
}

/// Draws the chart on a cairo context of `size` (logical pixels).
pub fn paint(
    context: &gtk::cairo::Context,
    size: (u32, u32),
    runs: &[Run],
    kind: ChartKind,
    style: &ChartStyle,
) -> Result<(), ChartError> {
    let backend = CairoBackend::new(context, size)
        .map_err(|error| ChartError::new(format!("cairo: {error}")))?;
    chart::draw(&backend.into_drawing_area(), runs, kind, style)
}

#[cfg(test)]
mod tests {
    use super::paint;
    use crate::stats::chart::{ChartKind, ChartStyle};
    use crate::stats::recorder::Recorder;
    use crate::stats::schema::{EventKind, Run, Sample};
    use gtk::cairo::{Context, Format, ImageSurface};
    use std::time::{Duration, Instant};

    /// A run of 20 s labelled `label`, downloading at `rate` times its
    /// second, with some buffer and a stall.
    fn run(label: &str, rate: f64) -> Run {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, start, Vec::new());
        recorder.set_label(label);
        recorder.event(start, EventKind::TorrentAdded);
        recorder.frame_shown(start + Duration::from_millis(700));
        for second in 0..20_u32 {
            recorder.sample(
                start + Duration::from_secs(u64::from(second)),
                Sample {
                    download_bytes_per_s: f64::from(second) * rate,
                    buffer_ahead_s: f64::from(second % 7),
                    ..Sample::default()
                },
            );
        }
        recorder.run()
    }

    /// The pixels of `kind` painted through cairo at `width` × `height`,
    /// row by row.
    fn painted(
        runs: &[Run],
        kind: ChartKind,
        style: &ChartStyle,
        (width, height): (u32, u32),
    ) -> Vec<Vec<[u8; 3]>> {
        let surface =
            ImageSurface::create(Format::Rgb24, width as i32, height as i32).expect("a surface");
        {
            let context = Context::new(&surface).expect("a context");
            paint(&context, (width, height), runs, kind, style).expect("draws");
        }
        surface.flush();
        let stride = usize::try_from(surface.stride()).expect("stride");
        let data = surface.take_data().expect("pixels");
        // Rgb24 is stored as native-endian 32-bit words: B, G, R, unused.
        data.chunks_exact(stride)
            .map(|row| {
                row[..width as usize * 4]
                    .chunks_exact(4)
                    .map(|p| [p[2], p[1], p[0]])
                    .collect()
            })
            .collect()
    }

    fn rgb(colour: plotters::style::RGBColor) -> [u8; 3] {
        [colour.0, colour.1, colour.2]
    }

    #[test]
    fn cairo_painting_draws_the_chart_in_the_style_colours() {
        let style = ChartStyle::DARK;
        let pixels: Vec<[u8; 3]> =
            painted(&[run("run", 100_000.0)], ChartKind::All, &style, (480, 600)).concat();
        let background = rgb(style.background);
        let drawn = pixels.iter().filter(|pixel| **pixel != background).count();
        assert!(drawn > pixels.len() / 50, "only {drawn} pixels drawn");
        assert!(
            pixels.contains(&rgb(style.palette[0])),
            "no line in the run's colour"
        );
    }

    /// Nothing runs off a chart: the outer `EDGE` pixels of every side are
    /// background, so no legend text or axis label was cut at the edge.
    #[test]
    fn compared_runs_legends_and_labels_stay_inside_the_chart_at_panel_widths() {
        const EDGE: usize = 3;
        let runs = [run("deadline", 90_000.0), run("sequential", 40_000.0)];
        let style = ChartStyle::LIGHT;
        let background = rgb(style.background);
        // The panel's default chart width, its narrowest, and narrower still.
        for width in [460, 416, 300] {
            for kind in [ChartKind::Rates, ChartKind::Buffer, ChartKind::Startup] {
                let rows = painted(&runs, kind, &style, (width, 220));
                let height = rows.len();
                let inked: Vec<(usize, usize)> = rows
                    .iter()
                    .enumerate()
                    .flat_map(|(y, row)| {
                        row.iter().enumerate().filter_map(move |(x, pixel)| {
                            let at_edge =
                                x < EDGE || x >= row.len() - EDGE || y < EDGE || y >= height - EDGE;
                            (at_edge && *pixel != background).then_some((x, y))
                        })
                    })
                    .collect();
                assert!(
                    inked.is_empty(),
                    "{kind:?} at {width} px: drawn up to the edge at {:?}",
                    &inked[..inked.len().min(10)]
                );
            }
        }
    }
}
