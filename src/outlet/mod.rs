//! Outlets: a torrent's file for other players and scripts, driving the
//! same demand loop as the built-in player. `server` is the local HTTP
//! server of `piecewise serve`; `piecewise cat` (in `cli/`) reads through
//! the same [`FileStream`](crate::engine::stream::FileStream) into a pipe.
//! See `DESIGN.md` beside this file.

pub mod range;
pub mod rate;
pub mod server;

use std::path::Path;

use crate::engine::handle::TorrentHandle;
use crate::engine::metainfo::Info;
use crate::player::file_choice::{self, video_media_type};

/// Media type of files that are not a known video.
const OCTET_STREAM: &str = "application/octet-stream";

/// The file of the torrent an outlet hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenFile {
    /// Index in `Info::files`.
    pub index: usize,
    /// Its last path component: the name in the served URL.
    pub name: String,
    pub length: u64,
    pub media_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    #[error("the torrent has no file number {0}")]
    NoSuchFile(usize),
    #[error("the torrent “{0}” contains no video file; choose one with --file")]
    NoVideo(String),
}

/// File `chosen` of the torrent (any file but a pad), or by default the
/// video the player would play: the largest.
pub fn choose_file(info: &Info, chosen: Option<usize>) -> Result<ChosenFile, ChoiceError> {
    let index = match chosen {
        Some(index) => index,
        None => {
            file_choice::default_video(info)
                .ok_or_else(|| ChoiceError::NoVideo(info.name.clone()))?
                .index
        }
    };
    let entry = info
        .files
        .get(index)
        .filter(|entry| !entry.pad)
        .ok_or(ChoiceError::NoSuchFile(index))?;
    Ok(ChosenFile {
        index,
        name: last_component(&entry.path),
        length: entry.length,
        media_type: video_media_type(&entry.path).unwrap_or(OCTET_STREAM),
    })
}

/// Chooses the file as [`choose_file`] does and makes it the only file of
/// the torrent the engine downloads.
pub fn want_only(torrent: &TorrentHandle, chosen: Option<usize>) -> anyhow::Result<ChosenFile> {
    let info = &torrent.metainfo().info;
    let file = choose_file(info, chosen)?;
    let wanted = (0..info.files.len()).map(|i| i == file.index).collect();
    torrent.set_wanted_files(wanted)?;
    Ok(file)
}

fn last_component(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
