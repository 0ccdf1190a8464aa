//! `piecewise stats table RUN.json…`: the runs' summaries side by side, one
//! column per run.

use std::path::PathBuf;

use clap::Args;

use crate::stats::export::read_runs;
use crate::stats::schema::Summary;

#[derive(Args, Debug)]
pub struct TableArgs {
    /// Recorded runs (JSON files written by Piecewise).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
}

pub fn run(args: TableArgs) -> anyhow::Result<()> {
    let runs = read_runs(&args.runs)?;
    let header: Vec<String> = runs.iter().map(|run| run.label().to_owned()).collect();
    let rows: Vec<[(&str, String); ROWS]> = runs.iter().map(|run| rows(&run.summary)).collect();
    let names: Vec<&str> = rows
        .first()
        .map(|first| first.iter().map(|(name, _)| *name).collect())
        .unwrap_or_default();
    let name_width = names.iter().map(|name| name.len()).max().unwrap_or(0);
    let widths: Vec<usize> = header
        .iter()
        .zip(&rows)
        .map(|(label, column)| {
            column
                .iter()
                .map(|(_, value)| value.len())
                .chain([label.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = format!("{:name_width$}", "");
    for (label, width) in header.iter().zip(&widths) {
        out.push_str(&format!("  {label:>width$}"));
    }
    out.push('\n');
    for (row, name) in names.iter().enumerate() {
        out.push_str(&format!("{name:name_width$}"));
        for (column, width) in rows.iter().zip(&widths) {
            let value = column.get(row).map_or("", |(_, value)| value.as_str());
            out.push_str(&format!("  {value:>width$}"));
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

const ROWS: usize = 13;

/// The summary's fields in schema order, formatted: seconds to the
/// millisecond, "-" for what did not happen.
fn rows(summary: &Summary) -> [(&'static str, String); ROWS] {
    let seconds = |value: f64| format!("{value:.3}");
    let maybe = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), seconds);
    [
        ("first_frame_s", maybe(summary.first_frame_s)),
        (
            "first_frame_after_add_s",
            maybe(summary.first_frame_after_add_s),
        ),
        ("play_start_s", maybe(summary.play_start_s)),
        ("stall_count", summary.stall_count.to_string()),
        ("stall_seconds", seconds(summary.stall_seconds)),
        ("seek_count", summary.seek_count.to_string()),
        ("seek_resume_s", maybe(summary.seek_resume_s)),
        ("played_s", seconds(summary.played_s)),
        ("bytes_down", summary.bytes_down.to_string()),
        ("bytes_up", summary.bytes_up.to_string()),
        ("bytes_wasted", summary.bytes_wasted.to_string()),
        (
            "bytes_from_web_seeds",
            summary.bytes_from_web_seeds.to_string(),
        ),
        ("share_ratio", maybe(summary.share_ratio)),
    ]
}
