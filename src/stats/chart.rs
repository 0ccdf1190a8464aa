//! Charts of one or several runs, drawn with plotters into any backend: PNG
//! and SVG files here, cairo in the window's chart widget.

use std::path::Path;
use std::str::FromStr;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::stats::schema::{EventKind, Run, STARTUP_PHASES, stall_intervals};

/// Which chart to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    /// Download and upload rate over time.
    Rates,
    /// Buffer ahead over time, stalls shaded, seeks marked.
    Buffer,
    /// The startup delay split into its phases, one bar per run.
    Startup,
    /// All three, stacked.
    All,
}

impl FromStr for ChartKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "rates" => Ok(Self::Rates),
            "buffer" => Ok(Self::Buffer),
            "startup" => Ok(Self::Startup),
            "all" => Ok(Self::All),
            other => Err(format!(
                "unknown chart {other:?}: use rates, buffer, startup or all"
            )),
        }
    }
}

/// Colours of a chart: one style for light and one for dark surroundings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartStyle {
    pub background: RGBColor,
    pub foreground: RGBColor,
    pub grid: RGBColor,
    /// One colour per run, then per startup phase; reused when exhausted.
    pub palette: [RGBColor; 6],
}

impl ChartStyle {
    /// libadwaita's light window colours and GNOME palette.
    pub const LIGHT: Self = Self {
        background: RGBColor(0xfa, 0xfa, 0xfa),
        foreground: RGBColor(0x24, 0x1f, 0x31),
        grid: RGBColor(0xde, 0xdd, 0xda),
        palette: [
            RGBColor(0x1c, 0x71, 0xd8),
            RGBColor(0xe6, 0x61, 0x00),
            RGBColor(0x26, 0xa2, 0x69),
            RGBColor(0x91, 0x41, 0xac),
            RGBColor(0xc0, 0x1c, 0x28),
            RGBColor(0x98, 0x6a, 0x44),
        ],
    };

    /// libadwaita's dark window colours, palette one step lighter.
    pub const DARK: Self = Self {
        background: RGBColor(0x24, 0x24, 0x24),
        foreground: RGBColor(0xff, 0xff, 0xff),
        grid: RGBColor(0x45, 0x45, 0x45),
        palette: [
            RGBColor(0x62, 0xa0, 0xea),
            RGBColor(0xff, 0xa3, 0x48),
            RGBColor(0x57, 0xe3, 0x89),
            RGBColor(0xc0, 0x61, 0xcb),
            RGBColor(0xf6, 0x61, 0x51),
            RGBColor(0xcd, 0xab, 0x8f),
        ],
    };

    pub fn for_dark(dark: bool) -> Self {
        if dark { Self::DARK } else { Self::LIGHT }
    }

    fn colour(&self, index: usize) -> RGBColor {
        self.palette[index % self.palette.len()]
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

impl ChartError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

fn drawing<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::new(error.to_string())
}

const FONT: &str = "sans-serif";

/// Draws `kind` for `runs` (overlaid, one colour each, legend = run label)
/// onto `area`, filling it.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    kind: ChartKind,
    style: &ChartStyle,
) -> Result<(), ChartError> {
    area.fill(&style.background).map_err(drawing)?;
    match kind {
        ChartKind::Rates => draw_rates(area, runs, style),
        ChartKind::Buffer => draw_buffer(area, runs, style),
        ChartKind::Startup => draw_startup(area, runs, style),
        ChartKind::All => {
            let parts = area.split_evenly((3, 1));
            draw_rates(&parts[0], runs, style)?;
            draw_buffer(&parts[1], runs, style)?;
            draw_startup(&parts[2], runs, style)
        }
    }
}

/// Writes the chart to `path`, as SVG when it ends in `.svg`, PNG
/// otherwise, `width` × `height` pixels.
pub fn save(
    path: &Path,
    runs: &[Run],
    kind: ChartKind,
    style: &ChartStyle,
    (width, height): (u32, u32),
) -> Result<(), ChartError> {
    let svg = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
    if svg {
        let root = SVGBackend::new(path, (width, height)).into_drawing_area();
        draw(&root, runs, kind, style)?;
        root.present().map_err(drawing)
    } else {
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        draw(&root, runs, kind, style)?;
        root.present().map_err(drawing)
    }
}

/// The unit a rate axis uses: MiB/s from 1 MiB/s up, KiB/s below.
fn rate_unit(max_bytes_per_s: f64) -> (&'static str, f64) {
    const MIB: f64 = 1024.0 * 1024.0;
    if max_bytes_per_s >= MIB {
        ("MiB/s", MIB)
    } else {
        ("KiB/s", 1024.0)
    }
}

/// The end of the time axis: the latest sample or event of any run.
fn time_span(runs: &[Run]) -> f64 {
    runs.iter()
        .flat_map(|run| {
            let samples = run.series.iter().map(|sample| sample.t_s);
            let events = run.events.iter().map(|event| event.t_s);
            samples.chain(events)
        })
        .fold(1.0, f64::max)
}

/// Labels a series with the run's name only when runs are compared.
fn series_label(runs: &[Run], run: &Run, what: &str) -> String {
    if runs.len() > 1 {
        format!("{} {what}", run.label())
    } else {
        what.to_owned()
    }
}

fn caption_font(style: &ChartStyle) -> TextStyle<'static> {
    (FONT, 18).into_font().color(&style.foreground)
}

fn label_font(style: &ChartStyle) -> TextStyle<'static> {
    (FONT, 13).into_font().color(&style.foreground)
}

fn draw_legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    style: &ChartStyle,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(style.background.mix(0.85))
        .border_style(style.grid)
        .label_font(label_font(style))
        .draw()
        .map_err(drawing)
}

fn draw_rates<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    style: &ChartStyle,
) -> Result<(), ChartError> {
    let peak = runs
        .iter()
        .flat_map(|run| &run.series)
        .map(|sample| sample.download_bytes_per_s.max(sample.upload_bytes_per_s))
        .fold(0.0, f64::max);
    let (unit, divisor) = rate_unit(peak);
    let top = (peak / divisor * 1.1).max(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption("Download and upload rate", caption_font(style))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..time_span(runs), 0.0..top)
        .map_err(drawing)?;
    configure_mesh(&mut chart, style, "time (s)", &format!("rate ({unit})"))?;
    for (index, run) in runs.iter().enumerate() {
        let colour = style.colour(index);
        chart
            .draw_series(LineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.download_bytes_per_s / divisor)),
                colour.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(series_label(runs, run, "download"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(DashedLineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.upload_bytes_per_s / divisor)),
                6,
                4,
                colour.stroke_width(1),
            ))
            .map_err(drawing)?
            .label(series_label(runs, run, "upload"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 8, y)], colour.stroke_width(1)));
    }
    draw_legend(&mut chart, style)
}

fn draw_buffer<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    style: &ChartStyle,
) -> Result<(), ChartError> {
    let top = runs
        .iter()
        .flat_map(|run| &run.series)
        .map(|sample| sample.buffer_ahead_s)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("Buffer ahead", caption_font(style))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..time_span(runs), 0.0..top)
        .map_err(drawing)?;
    configure_mesh(&mut chart, style, "time (s)", "buffer ahead (s)")?;
    for (index, run) in runs.iter().enumerate() {
        let colour = style.colour(index);
        let shade = colour.mix(0.25).filled();
        let stalls: Vec<_> = stall_intervals(&run.events)
            .map(|(start, end)| Rectangle::new([(start, 0.0), (end, top)], shade))
            .collect();
        if !stalls.is_empty() {
            chart
                .draw_series(stalls)
                .map_err(drawing)?
                .label(series_label(runs, run, "stalls"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], shade));
        }
        let seeks: Vec<_> = run
            .events
            .iter()
            .filter(|event| matches!(event.kind, EventKind::Seek { .. }))
            .map(|event| PathElement::new([(event.t_s, 0.0), (event.t_s, top)], colour))
            .collect();
        if !seeks.is_empty() {
            chart
                .draw_series(seeks)
                .map_err(drawing)?
                .label(series_label(runs, run, "seeks"))
                .legend(move |(x, y)| PathElement::new([(x + 10, y - 6), (x + 10, y + 6)], colour));
        }
        chart
            .draw_series(LineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.buffer_ahead_s)),
                colour.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(series_label(runs, run, "buffer"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    draw_legend(&mut chart, style)
}

fn draw_startup<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    style: &ChartStyle,
) -> Result<(), ChartError> {
    let phases: Vec<[f64; 5]> = runs.iter().map(Run::startup_phases).collect();
    let longest = phases
        .iter()
        .map(|parts| parts.iter().sum::<f64>())
        .fold(0.1, f64::max);
    let labels: Vec<String> = runs.iter().map(|run| run.label().to_owned()).collect();
    let bars = u32::try_from(runs.len().max(1)).unwrap_or(u32::MAX);
    let mut chart = ChartBuilder::on(area)
        .caption("Startup delay", caption_font(style))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(100)
        .build_cartesian_2d(
            0.0..longest * 1.25,
            // plotters' integer ranges include their end: one segment a run.
            (0..bars - 1).into_segmented(),
        )
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(style.grid)
        .light_line_style(TRANSPARENT)
        .axis_style(style.foreground)
        .label_style(label_font(style))
        .axis_desc_style(label_font(style))
        .x_desc("seconds since the process started")
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => usize::try_from(*index)
                .ok()
                .and_then(|index| labels.get(index))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(drawing)?;
    for (phase, name) in STARTUP_PHASES.iter().enumerate() {
        let colour = style.colour(phase);
        let mut segments = Vec::new();
        for (bar, parts) in (0..bars).zip(&phases) {
            let start: f64 = parts.iter().take(phase).sum();
            let mut segment = Rectangle::new(
                [
                    (start, SegmentValue::Exact(bar)),
                    (start + parts[phase], SegmentValue::Exact(bar + 1)),
                ],
                colour.filled(),
            );
            segment.set_margin(6, 6, 0, 0);
            segments.push(segment);
        }
        chart
            .draw_series(segments)
            .map_err(drawing)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], colour.filled()));
    }
    draw_legend(&mut chart, style)
}

fn configure_mesh<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    style: &ChartStyle,
    x_desc: &str,
    y_desc: &str,
) -> Result<(), ChartError> {
    chart
        .configure_mesh()
        .bold_line_style(style.grid)
        .light_line_style(TRANSPARENT)
        .axis_style(style.foreground)
        .label_style(label_font(style))
        .axis_desc_style(label_font(style))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(drawing)
}
