//! `piecewise stats plot RUN.json… -o FILE.png|FILE.svg`: charts of recorded
//! runs, overlaid when there are several.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::stats::chart::{self, ChartKind, ChartStyle};
use crate::stats::export::read_runs;

/// Largest image side accepted, in pixels: a 8192² RGB bitmap is 200 MB.
const MAX_IMAGE_SIDE: i64 = 8192;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Recorded runs (JSON files written by Piecewise).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The image to write: SVG when it ends in .svg, PNG otherwise.
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(64..=MAX_IMAGE_SIDE))]
    pub width: u32,
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u32).range(64..=MAX_IMAGE_SIDE))]
    pub height: u32,
    /// rates, buffer, startup or all.
    #[arg(long, default_value = "all")]
    pub chart: ChartKind,
    /// Light text on a dark background.
    #[arg(long)]
    pub dark: bool,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let runs = read_runs(&args.runs)?;
    chart::save(
        &args.output,
        &runs,
        args.chart,
        &ChartStyle::for_dark(args.dark),
        (args.width, args.height),
    )
    .with_context(|| format!("cannot write {}", args.output.display()))
}
