//! Charts of one or several runs, drawn with plotters into any backend: PNG
//! and SVG files here, cairo in the window's chart widget.

use std::path::Path;
use std::str::FromStr;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::i18n::{gettext, gettext_f};
use crate::stats::schema::{EventKind, Run, stall_intervals};

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

/// The unit a rate axis uses: MB/s from 1 MB/s up, kB/s below; decimal
/// units, as the status line and the panel's totals (GLib's sizes) use.
fn rate_unit(max_bytes_per_s: f64) -> (&'static str, f64) {
    const MB: f64 = 1_000_000.0;
    if max_bytes_per_s >= MB {
        ("MB/s", MB)
    } else {
        ("kB/s", 1000.0)
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

/// What a legend entry shows before its label, in the series' style.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    /// A solid line of this width.
    Line(RGBColor, u32),
    /// A thin dashed line.
    Dashes(RGBColor),
    /// A filled block.
    Block(ShapeStyle),
    /// A vertical mark.
    Tick(RGBColor),
}

/// One series as the legend names it.
#[derive(Clone, Debug)]
struct LegendEntry {
    label: String,
    swatch: Swatch,
}

/// Space around a chart's legend and its plot, pixels.
const MARGIN: u32 = 10;
/// Extra room right of the plot: the last time label is centred on its end.
const RIGHT_MARGIN: u32 = 24;
/// Width of a legend swatch and the gap after it, pixels.
const SWATCH_WIDTH: i32 = 20;
const SWATCH_GAP: i32 = 6;
/// Space between legend entries on a row, pixels.
const ENTRY_SPACING: i32 = 18;

/// Where legend entries of `widths` pixels go, left to right in rows that
/// wrap at `width` (an entry wider than that gets a row of its own): the
/// top-left corner of each, and the rows' total height.
fn legend_layout(widths: &[i32], width: i32, row_height: i32) -> (Vec<(i32, i32)>, i32) {
    let (mut x, mut y) = (0, 0);
    let mut corners = Vec::with_capacity(widths.len());
    for &entry in widths {
        if x > 0 && x + entry > width {
            (x, y) = (0, y + row_height);
        }
        corners.push((x, y));
        x += entry + ENTRY_SPACING;
    }
    let height = if widths.is_empty() { 0 } else { y + row_height };
    (corners, height)
}

/// Draws `entries` as rows at the bottom of `area` and returns the rest of
/// it, for the chart. Text is measured by the backend that draws it:
/// plotters' own series labels measure with its font files and cairo draws
/// wider, so they ran past their box and off the widget.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    style: &ChartStyle,
) -> Result<DrawingArea<DB, Shift>, ChartError> {
    let font = label_font(style);
    let mut widths = Vec::with_capacity(entries.len());
    let mut row_height = 0;
    for entry in entries {
        let (width, height) = area
            .estimate_text_size(&entry.label, &font)
            .map_err(drawing)?;
        let width = i32::try_from(width).unwrap_or(i32::MAX);
        widths.push(SWATCH_WIDTH + SWATCH_GAP + width);
        row_height = row_height.max(i32::try_from(height).unwrap_or(0) + 4);
    }
    let (area_width, area_height) = area.dim_in_pixel();
    let inner_width = i32::try_from(area_width.saturating_sub(2 * MARGIN)).unwrap_or(0);
    let (corners, height) = legend_layout(&widths, inner_width, row_height);
    let height = u32::try_from(height).unwrap_or(0);
    let (chart, legend) = area
        .split_vertically(area_height.saturating_sub(height + if height > 0 { MARGIN } else { 0 }));
    let left = MARGIN as i32;
    for (entry, (x, y)) in entries.iter().zip(corners) {
        let (x, middle) = (left + x, y + row_height / 2);
        let swatch_end = x + SWATCH_WIDTH;
        match entry.swatch {
            Swatch::Line(colour, width) => legend.draw(&PathElement::new(
                [(x, middle), (swatch_end, middle)],
                colour.stroke_width(width),
            )),
            Swatch::Dashes(colour) => legend
                .draw(&PathElement::new(
                    [(x, middle), (x + 8, middle)],
                    colour.stroke_width(1),
                ))
                .and_then(|()| {
                    legend.draw(&PathElement::new(
                        [(x + 12, middle), (swatch_end, middle)],
                        colour.stroke_width(1),
                    ))
                }),
            Swatch::Block(shape) => legend.draw(&Rectangle::new(
                [(x, middle - 5), (swatch_end, middle + 5)],
                shape,
            )),
            Swatch::Tick(colour) => legend.draw(&PathElement::new(
                [
                    (x + SWATCH_WIDTH / 2, middle - 6),
                    (x + SWATCH_WIDTH / 2, middle + 6),
                ],
                colour,
            )),
        }
        .map_err(drawing)?;
        legend
            .draw_text(&entry.label, &font, (swatch_end + SWATCH_GAP, y + 2))
            .map_err(drawing)?;
    }
    Ok(chart)
}

/// Pixels per axis label: fewer labels on a small chart, so they do not run
/// into one another.
const X_LABEL_SPACING: u32 = 64;
const Y_LABEL_SPACING: u32 = 24;

/// How many labels an axis of `pixels` holds, `spacing` apart.
fn label_count(pixels: u32, spacing: u32) -> usize {
    usize::try_from(pixels / spacing)
        .unwrap_or(usize::MAX)
        .clamp(2, 10)
}

/// An axis label: as many decimals as the value has, none for a whole
/// number ("400", "2.5"; plotters writes "400.0"). Three decimals are
/// plenty for ticks a nice step apart and hide the float's rounding.
fn axis_number(value: &f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0" } else { text }.to_owned()
}

/// What every chart's mesh shares: the style's grid, axes and label
/// fonts, and as many x labels as a plot `width` pixels wide holds.
fn shared_mesh_style<Y: Ranged, DB: DrawingBackend>(
    mesh: &mut MeshStyle<'_, '_, RangedCoordf64, Y, DB>,
    style: &ChartStyle,
    width: u32,
    x_desc: &str,
) {
    mesh.x_labels(label_count(width, X_LABEL_SPACING))
        .x_label_formatter(&axis_number)
        .bold_line_style(style.grid)
        .light_line_style(TRANSPARENT)
        .axis_style(style.foreground)
        .label_style(label_font(style))
        .axis_desc_style(label_font(style))
        .x_desc(x_desc);
}

/// A chart over the runs' time span, up to `top`, with its mesh.
fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    runs: &[Run],
    style: &ChartStyle,
    caption: &str,
    (top, y_desc): (f64, &str),
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, ChartError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, caption_font(style))
        .margin(MARGIN)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..time_span(runs), 0.0..top)
        .map_err(drawing)?;
    let (width, height) = chart.plotting_area().dim_in_pixel();
    let mut mesh = chart.configure_mesh();
    shared_mesh_style(&mut mesh, style, width, &gettext("time (s)"));
    mesh.y_labels(label_count(height, Y_LABEL_SPACING))
        .y_label_formatter(&axis_number)
        .y_desc(y_desc)
        .draw()
        .map_err(drawing)?;
    Ok(chart)
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
    let legend: Vec<LegendEntry> = runs
        .iter()
        .enumerate()
        .flat_map(|(index, run)| {
            let colour = style.colour(index);
            [
                LegendEntry {
                    label: series_label(runs, run, &gettext("download")),
                    swatch: Swatch::Line(colour, 2),
                },
                LegendEntry {
                    label: series_label(runs, run, &gettext("upload")),
                    swatch: Swatch::Dashes(colour),
                },
            ]
        })
        .collect();
    let area = draw_legend(area, &legend, style)?;
    // Translators: a chart's vertical axis; {} is a unit such as kB/s.
    let y_desc = gettext_f("rate ({})", &[unit]);
    let mut chart = time_chart(
        &area,
        runs,
        style,
        &gettext("Download and upload rate"),
        (top, &y_desc),
    )?;
    for (index, run) in runs.iter().enumerate() {
        let colour = style.colour(index);
        chart
            .draw_series(LineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.download_bytes_per_s / divisor)),
                colour.stroke_width(2),
            ))
            .map_err(drawing)?;
        chart
            .draw_series(DashedLineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.upload_bytes_per_s / divisor)),
                6,
                4,
                colour.stroke_width(1),
            ))
            .map_err(drawing)?;
    }
    Ok(())
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
    let stalls: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|run| stall_intervals(&run.events).collect())
        .collect();
    let seeks: Vec<Vec<f64>> = runs
        .iter()
        .map(|run| {
            run.events
                .iter()
                .filter(|event| matches!(event.kind, EventKind::Seek { .. }))
                .map(|event| event.t_s)
                .collect()
        })
        .collect();
    let mut legend = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let colour = style.colour(index);
        if !stalls[index].is_empty() {
            legend.push(LegendEntry {
                label: series_label(runs, run, &gettext("stalls")),
                swatch: Swatch::Block(colour.mix(0.25).filled()),
            });
        }
        if !seeks[index].is_empty() {
            legend.push(LegendEntry {
                label: series_label(runs, run, &gettext("seeks")),
                swatch: Swatch::Tick(colour),
            });
        }
        legend.push(LegendEntry {
            label: series_label(runs, run, &gettext("buffer")),
            swatch: Swatch::Line(colour, 2),
        });
    }
    let area = draw_legend(area, &legend, style)?;
    let mut chart = time_chart(
        &area,
        runs,
        style,
        &gettext("Buffer ahead"),
        (top, &gettext("buffer ahead (s)")),
    )?;
    for (index, run) in runs.iter().enumerate() {
        let colour = style.colour(index);
        let shade = colour.mix(0.25).filled();
        chart
            .draw_series(
                stalls[index]
                    .iter()
                    .map(|&(start, end)| Rectangle::new([(start, 0.0), (end, top)], shade)),
            )
            .map_err(drawing)?;
        chart
            .draw_series(
                seeks[index]
                    .iter()
                    .map(|&at| PathElement::new([(at, 0.0), (at, top)], colour)),
            )
            .map_err(drawing)?;
        chart
            .draw_series(LineSeries::new(
                run.series
                    .iter()
                    .map(|sample| (sample.t_s, sample.buffer_ahead_s)),
                colour.stroke_width(2),
            ))
            .map_err(drawing)?;
    }
    Ok(())
}

/// The names of the parts of `Run::startup_phases`, in its order.
fn startup_phase_names() -> [String; 5] {
    [
        gettext("launch"),
        gettext("metadata"),
        gettext("first peer"),
        gettext("prebuffering"),
        gettext("first frame"),
    ]
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
    let legend: Vec<LegendEntry> = startup_phase_names()
        .into_iter()
        .enumerate()
        .map(|(phase, label)| LegendEntry {
            label,
            swatch: Swatch::Block(style.colour(phase).filled()),
        })
        .collect();
    let area = draw_legend(area, &legend, style)?;
    let mut chart = ChartBuilder::on(&area)
        .caption(gettext("Startup delay"), caption_font(style))
        .margin(MARGIN)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(36)
        .y_label_area_size(100)
        .build_cartesian_2d(
            0.0..longest * 1.25,
            // plotters' integer ranges include their end: one segment a run.
            (0..bars - 1).into_segmented(),
        )
        .map_err(drawing)?;
    let width = chart.plotting_area().dim_in_pixel().0;
    let mut mesh = chart.configure_mesh();
    shared_mesh_style(&mut mesh, style, width, &gettext("seconds since start"));
    mesh.disable_y_mesh()
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
    for phase in 0..legend.len() {
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
        chart.draw_series(segments).map_err(drawing)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ENTRY_SPACING, axis_number, legend_layout};

    #[test]
    fn axis_labels_show_no_decimals_a_value_does_not_have() {
        assert_eq!(axis_number(&400.0), "400");
        assert_eq!(axis_number(&0.0), "0");
        assert_eq!(axis_number(&-0.0), "0");
        assert_eq!(axis_number(&2.5), "2.5");
        assert_eq!(axis_number(&0.25), "0.25");
        assert_eq!(axis_number(&(0.1 + 0.2)), "0.3");
        assert_eq!(axis_number(&-1.5), "-1.5");
    }

    #[test]
    fn legend_entries_wrap_into_rows_that_fit_the_width() {
        let (corners, height) = legend_layout(&[100, 100, 100], 250, 16);
        assert_eq!(corners, [(0, 0), (100 + ENTRY_SPACING, 0), (0, 16)]);
        assert_eq!(height, 32);
        // Too wide for any row: a row of its own, never a blank one first.
        let (corners, height) = legend_layout(&[300, 50], 250, 16);
        assert_eq!(corners, [(0, 0), (0, 16)]);
        assert_eq!(height, 32);
        assert_eq!(legend_layout(&[], 250, 16), (Vec::new(), 0));
    }
}
