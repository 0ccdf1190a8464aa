//! Runs to and from files: the whole run as pretty JSON, the series as CSV.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::stats::schema::{Run, SCHEMA_VERSION, Sample};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Piecewise stats file: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "{path} has stats schema version {found}; this Piecewise reads version {SCHEMA_VERSION}"
    )]
    Version { path: String, found: u32 },
}

pub fn to_json(run: &Run) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(run)
}

pub fn write_json(run: &Run, path: &Path) -> Result<(), ExportError> {
    let display = path.display().to_string();
    let json = to_json(run).map_err(|source| ExportError::Json {
        path: display.clone(),
        source,
    })?;
    std::fs::write(path, json + "\n").map_err(|source| ExportError::Write {
        path: display,
        source,
    })
}

pub fn read_json(path: &Path) -> Result<Run, ExportError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Read {
        path: display.clone(),
        source,
    })?;
    // The version first, so a newer file gets a clear message instead of a
    // complaint about some field.
    #[derive(serde::Deserialize)]
    struct Versioned {
        schema_version: u32,
    }
    let versioned: Versioned = serde_json::from_str(&text).map_err(|source| ExportError::Json {
        path: display.clone(),
        source,
    })?;
    if versioned.schema_version != SCHEMA_VERSION {
        return Err(ExportError::Version {
            path: display,
            found: versioned.schema_version,
        });
    }
    serde_json::from_str(&text).map_err(|source| ExportError::Json {
        path: display,
        source,
    })
}

/// Reads runs for a comparison; a run without a label is named after its
/// file, so that runs of the same torrent stay apart in legends.
pub fn read_runs(paths: &[PathBuf]) -> Result<Vec<Run>, ExportError> {
    paths
        .iter()
        .map(|path| {
            let mut run = read_json(path)?;
            if run.session.label.is_none() {
                run.session.label = Some(file_stem(path));
            }
            Ok(run)
        })
        .collect()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Writes `run` to `path`: the series as CSV when the name ends in `.csv`,
/// the whole run as JSON otherwise.
pub fn write_by_extension(run: &Run, path: &Path) -> Result<(), ExportError> {
    let csv = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    if !csv {
        return write_json(run, path);
    }
    let io = |source| ExportError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    write_csv(&run.series, &mut out).map_err(io)?;
    out.flush().map_err(io)
}

/// The CSV header; one column per [`Sample`] field, units in the names.
pub const CSV_HEADER: &str = "t_s,download_bytes_per_s,upload_bytes_per_s,peers,buffer_ahead_s,\
position_s,pieces_had,bytes_down,bytes_up,bytes_wasted,bytes_from_web_seeds";

pub fn write_csv(series: &[Sample], mut out: impl Write) -> std::io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for sample in series {
        let Sample {
            t_s,
            download_bytes_per_s,
            upload_bytes_per_s,
            peers,
            buffer_ahead_s,
            position_s,
            pieces_had,
            bytes_down,
            bytes_up,
            bytes_wasted,
            bytes_from_web_seeds,
        } = sample;
        writeln!(
            out,
            "{t_s:.3},{download_bytes_per_s:.0},{upload_bytes_per_s:.0},{peers},{buffer_ahead_s:.3},\
             {position_s:.3},{pieces_had},{bytes_down},{bytes_up},{bytes_wasted},{bytes_from_web_seeds}"
        )?;
    }
    Ok(())
}
