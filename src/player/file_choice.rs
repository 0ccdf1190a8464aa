//! Which file of a torrent to play, and which subtitle files go with it.
//! Pure: decided from the file names and sizes alone, before any byte
//! arrives.

use std::cmp::Ordering;
use std::path::Path;

use crate::engine::limits::MAX_SUBTITLE_FILE_BYTES;
use crate::engine::metainfo::{FileEntry, Info};

/// Extensions of containers GStreamer demuxes into a video, lower case,
/// with their media types (what `serve` sends as `Content-Type`).
const VIDEO_TYPES: &[(&str, &str)] = &[
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("mkv", "video/x-matroska"),
    ("webm", "video/webm"),
    ("mov", "video/quicktime"),
    ("avi", "video/x-msvideo"),
    ("ts", "video/mp2t"),
    ("m2ts", "video/mp2t"),
    ("mts", "video/mp2t"),
    ("mpg", "video/mpeg"),
    ("mpeg", "video/mpeg"),
    ("ogv", "video/ogg"),
    ("flv", "video/x-flv"),
    ("wmv", "video/x-ms-wmv"),
    ("3gp", "video/3gpp"),
];

/// Extensions of subtitle files playbin loads as `suburi`, lower case.
const SUBTITLE_EXTENSIONS: &[&str] = &["srt", "vtt", "ass", "ssa"];

/// A file of the torrent that can be played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayableFile {
    /// Index in `Info::files`.
    pub index: usize,
    /// Path inside the torrent.
    pub path: String,
    pub length: u64,
}

/// The torrent's playable videos, largest first (ties in path order): the
/// list the UI offers, and its first entry the default.
pub fn playable_files(info: &Info) -> Vec<PlayableFile> {
    let mut files: Vec<PlayableFile> = info
        .files
        .iter()
        .enumerate()
        .filter(|(_, entry)| !entry.pad && video_media_type(&entry.path).is_some())
        .map(|(index, entry)| PlayableFile {
            index,
            path: entry.path.display().to_string(),
            length: entry.length,
        })
        .collect();
    files.sort_by(|a, b| b.length.cmp(&a.length).then_with(|| a.path.cmp(&b.path)));
    files
}

/// The video played when the user did not choose: the largest.
pub fn default_video(info: &Info) -> Option<PlayableFile> {
    playable_files(info).into_iter().next()
}

/// The files to fetch to play `video` (the default video if `None`): it
/// and its matching subtitles; `true` marks a wanted file of `info.files`.
/// Given to the engine when the torrent is added, so no piece of another
/// file is ever asked for.
pub fn files_to_play(info: &Info, video: Option<usize>) -> Vec<bool> {
    let mut wanted = vec![false; info.files.len()];
    let Some(video) = video.or_else(|| default_video(info).map(|file| file.index)) else {
        return wanted;
    };
    for index in matching_subtitles(info, video).into_iter().chain([video]) {
        if let Some(flag) = wanted.get_mut(index) {
            *flag = true;
        }
    }
    wanted
}

/// The playable file after `current` in natural name order (`S01E02`
/// after `S01E01`, `Episode 10` after `Episode 9`): the next episode of a
/// series. `None` when `current` is the last or not playable.
pub fn next_file(playable: &[PlayableFile], current: usize) -> Option<PlayableFile> {
    let current = playable.iter().find(|file| file.index == current)?;
    playable
        .iter()
        .filter(|file| natural_cmp(&file.path, &current.path) == Ordering::Greater)
        .min_by(|a, b| natural_cmp(&a.path, &b.path))
        .cloned()
}

/// Compares names as people sort them: runs of digits by their number,
/// everything else without regard to case; exact bytes break ties so that
/// distinct names never compare equal.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut left, mut right) = (a, b);
    while let (Some(l), Some(r)) = (left.chars().next(), right.chars().next()) {
        let order = if l.is_ascii_digit() && r.is_ascii_digit() {
            let (l_run, l_rest) = split_digits(left);
            let (r_run, r_rest) = split_digits(right);
            left = l_rest;
            right = r_rest;
            compare_numbers(l_run, r_run)
        } else {
            left = &left[l.len_utf8()..];
            right = &right[r.len_utf8()..];
            l.to_lowercase().cmp(r.to_lowercase())
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    left.len().cmp(&right.len()).then_with(|| a.cmp(b))
}

fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Compares two runs of ASCII digits by value, whatever their length:
/// without leading zeros, the longer number is the larger.
fn compare_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Subtitle files beside the video `video` with its stem: `Movie.srt`,
/// `Movie.en.srt` and `Movie.eng.forced.ass` go with `Movie.mkv`. Exact
/// stems come first; files over `MAX_SUBTITLE_FILE_BYTES` are left out.
pub fn matching_subtitles(info: &Info, video: usize) -> Vec<usize> {
    let Some(video_entry) = info.files.get(video) else {
        return Vec::new();
    };
    let (Some(stem), parent) = (file_stem(&video_entry.path), video_entry.path.parent()) else {
        return Vec::new();
    };
    let mut matches: Vec<(bool, usize)> = info
        .files
        .iter()
        .enumerate()
        .filter(|(_, entry)| is_subtitle(entry) && entry.path.parent() == parent)
        .filter_map(|(index, entry)| {
            let sub_stem = file_stem(&entry.path)?;
            let exact = sub_stem == stem;
            let tagged = sub_stem
                .strip_prefix(&stem)
                .is_some_and(|rest| rest.starts_with('.'));
            (exact || tagged).then_some((!exact, index))
        })
        .collect();
    matches.sort_unstable();
    matches.into_iter().map(|(_, index)| index).collect()
}

fn is_subtitle(entry: &FileEntry) -> bool {
    !entry.pad
        && entry.length <= MAX_SUBTITLE_FILE_BYTES
        && has_extension(&entry.path, SUBTITLE_EXTENSIONS)
}

/// The media type of a video file, by its extension; `None` for anything
/// that is not a playable video.
pub fn video_media_type(path: &Path) -> Option<&'static str> {
    let extension = lowercase_extension(path)?;
    VIDEO_TYPES
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|&(_, media_type)| media_type)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    lowercase_extension(path).is_some_and(|extension| extensions.contains(&extension.as_str()))
}

fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
}

fn file_stem(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn info(files: &[(&str, u64)]) -> Info {
        let mut offset = 0;
        let files = files
            .iter()
            .map(|&(path, length)| {
                let entry = FileEntry {
                    path: PathBuf::from(path),
                    length,
                    offset,
                    pad: path.contains(".pad/"),
                };
                offset += length;
                entry
            })
            .collect();
        Info {
            name: "t".into(),
            piece_length: 16384,
            piece_hashes: Vec::new(),
            files,
            total_length: offset,
            private: false,
        }
    }

    #[test]
    fn largest_playable_video_is_the_default_and_others_are_listed() {
        let info = info(&[
            ("t/sample.mkv", 1_000),
            ("t/Movie.MP4", 9_000),
            ("t/cover.jpg", 50_000),
            ("t/.pad/0", 90_000),
            ("t/extras.webm", 2_000),
            ("t/readme", 100_000),
        ]);
        let listed: Vec<usize> = playable_files(&info).iter().map(|f| f.index).collect();
        assert_eq!(listed, vec![1, 4, 0]);
        assert_eq!(
            default_video(&info).map(|f| f.path),
            Some("t/Movie.MP4".into())
        );
    }

    #[test]
    fn videos_have_their_media_type_and_other_files_none() {
        assert_eq!(video_media_type(Path::new("t/a.MP4")), Some("video/mp4"));
        assert_eq!(video_media_type(Path::new("b.webm")), Some("video/webm"));
        assert_eq!(
            video_media_type(Path::new("c.mkv")),
            Some("video/x-matroska")
        );
        assert_eq!(video_media_type(Path::new("d.srt")), None);
        assert_eq!(video_media_type(Path::new("mp4")), None);
    }

    #[test]
    fn files_to_play_are_the_video_and_its_subtitles_only() {
        let series = info(&[
            ("s/Episode 1.mkv", 9_000),
            ("s/Episode 1.en.srt", 200),
            ("s/Episode 2.mkv", 5_000),
            ("s/Episode 2.srt", 200),
            ("s/notes.txt", 50_000),
        ]);
        assert_eq!(
            files_to_play(&series, None),
            vec![true, true, false, false, false]
        );
        assert_eq!(
            files_to_play(&series, Some(2)),
            vec![false, false, true, true, false]
        );
        assert_eq!(files_to_play(&info(&[("t/a.txt", 10)]), None), vec![false]);
    }

    #[test]
    fn a_torrent_without_a_video_has_no_default() {
        let info = info(&[("t/a.txt", 10), ("t/b.srt", 10), ("t/c", 10)]);
        assert_eq!(playable_files(&info), Vec::new());
        assert_eq!(default_video(&info), None);
    }

    #[test]
    fn names_sort_naturally_by_the_numbers_in_them() {
        let mut names = vec![
            "Show S01E10.mkv",
            "show s01e02.mkv",
            "Show S01E01.mkv",
            "Episode 10.mp4",
            "Episode 9.mp4",
            "Episode 009.mp4",
            "Episode 99999999999999999999999.mp4",
            "Episode 100000000000000000000000.mp4",
            "Épisode 2.mp4",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            vec![
                "Episode 009.mp4",
                "Episode 9.mp4",
                "Episode 10.mp4",
                "Episode 99999999999999999999999.mp4",
                "Episode 100000000000000000000000.mp4",
                "Show S01E01.mkv",
                "show s01e02.mkv",
                "Show S01E10.mkv",
                "Épisode 2.mp4",
            ]
        );
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "A"), Ordering::Greater);
    }

    #[test]
    fn next_file_is_the_following_episode_in_natural_order() {
        let info = info(&[
            ("s/Show S01E10.mkv", 5_000),
            ("s/Show S01E09.mkv", 9_000),
            ("s/notes.txt", 50_000),
            ("s/Show S01E01.mkv", 7_000),
        ]);
        let playable = playable_files(&info);
        let next = |current| next_file(&playable, current).map(|file| file.index);
        assert_eq!(next(3), Some(1));
        assert_eq!(next(1), Some(0));
        assert_eq!(next(0), None);
        // Not a playable file: no next.
        assert_eq!(next(2), None);
    }

    #[test]
    fn subtitles_with_the_video_stem_in_its_folder_match() {
        let info = info(&[
            ("t/Movie.mkv", 9_000),
            ("t/Movie.en.srt", 10),
            ("t/movie.srt", 10),
            ("t/Movie.vtt.txt", 10),
            ("t/Other.srt", 10),
            ("t/subs/Movie.srt", 10),
            ("t/Movie2.ass", 10),
            ("t/Movie.fr.ass", 10),
        ]);
        assert_eq!(matching_subtitles(&info, 0), vec![2, 1, 7]);
        assert_eq!(matching_subtitles(&info, 99), Vec::<usize>::new());
    }

    #[test]
    fn subtitle_files_over_the_size_limit_are_not_loaded() {
        let info = info(&[
            ("t/Movie.mkv", 9_000),
            ("t/Movie.srt", MAX_SUBTITLE_FILE_BYTES),
            ("t/Movie.en.srt", MAX_SUBTITLE_FILE_BYTES + 1),
        ]);
        assert_eq!(matching_subtitles(&info, 0), vec![1]);
    }
}
