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
    use crate::stats::schema::{EventKind, Sample};
    use gtk::cairo::{Context, Format, ImageSurface};
    use std::time::{Duration, Instant};

    #[test]
    fn cairo_painting_draws_the_chart_in_the_style_colours() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, start, Vec::new());
        recorder.event(start, EventKind::TorrentAdded);
        recorder.frame_shown(start + Duration::from_millis(700));
        for second in 0..20_u32 {
            recorder.sample(
                start + Duration::from_secs(u64::from(second)),
                Sample {
                    download_bytes_per_s: f64::from(second) * 100_000.0,
                    buffer_ahead_s: f64::from(second % 7),
                    ..Sample::default()
                },
            );
        }
        let runs = [recorder.run()];
        let style = ChartStyle::DARK;
        let surface = ImageSurface::create(Format::Rgb24, 480, 600).expect("a surface");
        {
            let context = Context::new(&surface).expect("a context");
            paint(&context, (480, 600), &runs, ChartKind::All, &style).expect("draws");
        }
        surface.flush();
        let stride = usize::try_from(surface.stride()).expect("stride");
        let data = surface.take_data().expect("pixels");
        // Rgb24 is stored as native-endian 32-bit words: B, G, R, unused.
        let pixels: Vec<[u8; 3]> = data
            .chunks_exact(stride)
            .flat_map(|row| row[..480 * 4].chunks_exact(4).map(|p| [p[2], p[1], p[0]]))
            .collect();
        let background = [style.background.0, style.background.1, style.background.2];
        let line = [style.palette[0].0, style.palette[0].1, style.palette[0].2];
        let drawn = pixels.iter().filter(|pixel| **pixel != background).count();
        assert!(drawn > pixels.len() / 50, "only {drawn} pixels drawn");
        assert!(pixels.contains(&line), "no line in the run's colour");
    }
}
