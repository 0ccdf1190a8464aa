//! Where a torrent's bytes live on a web seed (BEP 19): a single-file
//! torrent is the URL itself (or the URL plus the name when it ends with
//! `/`); a multi-file torrent's file is the URL, the torrent's name and the
//! file's path, each component percent-encoded.

use std::ops::Range;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::engine::metainfo::Info;

/// Bytes kept as they are in a URL path component (RFC 3986 unreserved).
const PATH_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("not an http or https URL: {0}")]
    Url(String),
    #[error("a file path is not valid UTF-8")]
    PathEncoding,
}

/// One stretch of a torrent byte range, as one HTTP request or zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Bytes `range` of the file at `url`, whose full length is `file_length`.
    File {
        url: Url,
        range: Range<u64>,
        file_length: u64,
    },
    /// A BEP 47 pad file: zeros that no server holds.
    Zeros(u64),
}

#[derive(Clone, Debug)]
struct FileSlot {
    offset: u64,
    length: u64,
    /// `None` for pad files.
    url: Option<Url>,
}

/// The torrent's files with their URLs on one web seed.
#[derive(Clone, Debug)]
pub struct WebSeedLayout {
    files: Vec<FileSlot>,
}

impl WebSeedLayout {
    pub fn new(base: &str, info: &Info) -> Result<Self, LayoutError> {
        let base = Url::parse(base)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| LayoutError::Url(base.to_owned()))?;
        let single = info.files.len() == 1
            && info
                .files
                .first()
                .is_some_and(|f| f.path.as_os_str() == info.name.as_str());
        let mut files = Vec::with_capacity(info.files.len());
        for file in &info.files {
            let url = if file.pad {
                None
            } else if single && !base.path().ends_with('/') {
                Some(base.clone())
            } else {
                // `path` starts with the torrent's name for multi-file
                // torrents, and is the name for single-file ones.
                let mut path = base.path().trim_end_matches('/').to_owned();
                for component in &file.path {
                    let component = component.to_str().ok_or(LayoutError::PathEncoding)?;
                    path.push('/');
                    path.extend(utf8_percent_encode(component, PATH_COMPONENT));
                }
                let mut url = base.clone();
                url.set_path(&path);
                Some(url)
            };
            files.push(FileSlot {
                offset: file.offset,
                length: file.length,
                url,
            });
        }
        Ok(Self { files })
    }

    /// The requests that fetch `range` of the torrent's bytes, in order.
    pub fn segments(&self, range: Range<u64>) -> Vec<Segment> {
        let mut segments = Vec::new();
        let first = self
            .files
            .partition_point(|f| f.offset.saturating_add(f.length) <= range.start);
        for file in self.files.iter().skip(first) {
            if file.offset >= range.end {
                break;
            }
            let start = range.start.max(file.offset);
            let end = range.end.min(file.offset.saturating_add(file.length));
            if start >= end {
                continue;
            }
            segments.push(match &file.url {
                Some(url) => Segment::File {
                    url: url.clone(),
                    range: start - file.offset..end - file.offset,
                    file_length: file.length,
                },
                None => Segment::Zeros(end - start),
            });
        }
        segments
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::engine::metainfo::FileEntry;

    pub(crate) fn info(name: &str, files: &[(&str, u64, bool)]) -> Info {
        let mut offset = 0;
        let files: Vec<FileEntry> = files
            .iter()
            .map(|&(path, length, pad)| {
                let entry = FileEntry {
                    path: PathBuf::from(path),
                    length,
                    offset,
                    pad,
                };
                offset += length;
                entry
            })
            .collect();
        Info {
            name: name.to_owned(),
            piece_length: 16384,
            piece_hashes: vec![[0; 20]; offset.div_ceil(16384) as usize],
            files,
            total_length: offset,
            private: false,
        }
    }

    fn file(url: &str, range: Range<u64>, file_length: u64) -> Segment {
        Segment::File {
            url: Url::parse(url).unwrap(),
            range,
            file_length,
        }
    }

    #[test]
    fn single_file_torrent_is_the_url_or_the_url_plus_its_name() {
        let info = info("movie one.mp4", &[("movie one.mp4", 1000, false)]);
        let direct = WebSeedLayout::new("http://127.0.0.1:8080/media/m.mp4", &info).unwrap();
        assert_eq!(
            direct.segments(10..20),
            vec![file("http://127.0.0.1:8080/media/m.mp4", 10..20, 1000)]
        );
        let folder = WebSeedLayout::new("https://origin.example/media/", &info).unwrap();
        assert_eq!(
            folder.segments(0..1000),
            vec![file(
                "https://origin.example/media/movie%20one.mp4",
                0..1000,
                1000
            )]
        );
    }

    #[test]
    fn multi_file_range_spans_files_with_encoded_paths_and_pad_zeros() {
        let info = info(
            "Show",
            &[
                ("Show/a b.mkv", 100, false),
                ("Show/.pad/28", 28, true),
                ("Show/sub/é#?.srt", 50, false),
            ],
        );
        let layout = WebSeedLayout::new("http://127.0.0.1:9/seed", &info).unwrap();
        assert_eq!(
            layout.segments(90..150),
            vec![
                file("http://127.0.0.1:9/seed/Show/a%20b.mkv", 90..100, 100),
                Segment::Zeros(28),
                file(
                    "http://127.0.0.1:9/seed/Show/sub/%C3%A9%23%3F.srt",
                    0..22,
                    50
                ),
            ]
        );
        assert_eq!(layout.segments(178..200), Vec::new());
    }

    #[test]
    fn only_http_and_https_urls_make_a_layout() {
        let info = info("a", &[("a", 1, false)]);
        for bad in ["ftp://h/a", "file:///a", "not a url", "http://"] {
            assert!(WebSeedLayout::new(bad, &info).is_err(), "{bad}");
        }
    }
}
