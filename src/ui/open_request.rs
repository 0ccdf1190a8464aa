//! What the user asked to open, from a drop, a paste, a recent entry or the
//! command line. GTK-free, so every case has a table test.

use crate::engine::magnet::{Magnet, MagnetError};
use crate::i18n::{gettext, gettext_f};
use std::path::{Path, PathBuf};

/// A torrent to open, by its file or its magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Open {
    Torrent(PathBuf),
    /// The link as the user gave it (trimmed), already known to parse.
    Magnet(String),
}

impl Open {
    /// The string kept in the recent-torrents list: a `file://` URI or the
    /// magnet link, both of which `decide_text` reads back.
    pub fn recent_entry(&self) -> Option<String> {
        match self {
            Open::Torrent(path) => url::Url::from_file_path(path).ok().map(String::from),
            Open::Magnet(link) => Some(link.clone()),
        }
    }

    /// A short name for titles: the file name or the magnet's `dn`.
    pub fn display_name(&self) -> String {
        match self {
            Open::Torrent(path) => path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            Open::Magnet(link) => Magnet::parse(link)
                .ok()
                .and_then(|magnet| magnet.display_name)
                .unwrap_or_else(|| gettext("Magnet Link")),
        }
    }
}

/// Why something cannot be opened; `message` is the sentence for a toast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Nothing,
    NotATorrent,
    NotAMagnet(MagnetError),
}

impl Rejection {
    pub fn message(&self) -> String {
        match self {
            Rejection::Nothing => gettext("There is nothing to open"),
            Rejection::NotATorrent => gettext("That file is not a torrent"),
            // The parser's own sentence would repeat "not a magnet link".
            Rejection::NotAMagnet(MagnetError::NotMagnet) => {
                gettext("That is neither a magnet link nor a torrent file")
            }
            Rejection::NotAMagnet(error) => {
                // Translators: {} is the reason, e.g. "the magnet link has no BitTorrent info-hash".
                gettext_f("That link is not a magnet link: {}", &[&error.to_string()])
            }
        }
    }
}

/// Files dropped on the window: the first torrent among them opens.
pub fn decide_files(files: &[PathBuf]) -> Result<Open, Rejection> {
    if files.is_empty() {
        return Err(Rejection::Nothing);
    }
    files
        .iter()
        .find(|path| is_torrent_path(path))
        .map(|path| Open::Torrent(path.clone()))
        .ok_or(Rejection::NotATorrent)
}

/// Text dropped or pasted: `text/plain` or a `text/uri-list` as browsers
/// drag links (CRLF lines, `#` comments). The first entry decides: a
/// `file://` URI or an absolute path must name a `.torrent`; anything else
/// must be a magnet link.
pub fn decide_text(text: &str) -> Result<Open, Rejection> {
    let Some(entry) = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
    else {
        return Err(Rejection::Nothing);
    };
    if let Some(path) = file_path(entry) {
        return decide_files(&[path]);
    }
    match Magnet::parse(entry) {
        Ok(_) => Ok(Open::Magnet(entry.to_owned())),
        Err(error) => Err(Rejection::NotAMagnet(error)),
    }
}

/// A command-line argument that names a torrent (a `.torrent` path or
/// `file:` URI, or a `magnet:` link); `None` for anything else, which plays
/// as a media file or URI. Relative paths resolve against `cwd`.
pub fn decide_argument(raw: &str, cwd: Option<&Path>) -> Option<Result<Open, Rejection>> {
    let trimmed = raw.trim();
    if trimmed
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("magnet:"))
    {
        return Some(decide_text(trimmed));
    }
    let path = file_path(trimmed).unwrap_or_else(|| match cwd {
        Some(cwd) => cwd.join(raw),
        None => PathBuf::from(raw),
    });
    is_torrent_path(&path).then_some(Ok(Open::Torrent(path)))
}

fn file_path(entry: &str) -> Option<PathBuf> {
    if entry.starts_with('/') {
        return Some(PathBuf::from(entry));
    }
    let scheme = entry.get(..5)?;
    if !scheme.eq_ignore_ascii_case("file:") {
        return None;
    }
    url::Url::parse(entry).ok()?.to_file_path().ok()
}

fn is_torrent_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("torrent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    fn magnet() -> String {
        format!("magnet:?xt=urn:btih:{HASH}&dn=Big%20Buck%20Bunny")
    }

    #[test]
    fn dropped_files_open_the_first_torrent_or_are_rejected() {
        let table: [(&[&str], Result<Open, Rejection>); 5] = [
            (
                &["/v/a.torrent"],
                Ok(Open::Torrent(PathBuf::from("/v/a.torrent"))),
            ),
            (
                &["/v/notes.txt", "/v/B.TORRENT"],
                Ok(Open::Torrent(PathBuf::from("/v/B.TORRENT"))),
            ),
            (&["/v/film.mp4"], Err(Rejection::NotATorrent)),
            (&["/v/torrent"], Err(Rejection::NotATorrent)),
            (&[], Err(Rejection::Nothing)),
        ];
        for (files, expected) in table {
            let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            assert_eq!(decide_files(&files), expected, "{files:?}");
        }
    }

    #[test]
    fn dropped_text_opens_magnets_and_torrent_uris_and_rejects_junk() {
        let link = magnet();
        let table = [
            (link.clone(), Ok(Open::Magnet(link.clone()))),
            (format!("  {link}\n"), Ok(Open::Magnet(link.clone()))),
            // A browser's text/uri-list: a comment, then CRLF lines.
            (
                format!("# dragged from a page\r\n{link}\r\nhttps://x.invalid/\r\n"),
                Ok(Open::Magnet(link.clone())),
            ),
            (
                "file:///home/me/My%20Show.torrent\r\n".to_owned(),
                Ok(Open::Torrent(PathBuf::from("/home/me/My Show.torrent"))),
            ),
            (
                "/home/me/a.torrent".to_owned(),
                Ok(Open::Torrent(PathBuf::from("/home/me/a.torrent"))),
            ),
            (
                "file:///home/me/film.mkv".to_owned(),
                Err(Rejection::NotATorrent),
            ),
            (
                "hello there".to_owned(),
                Err(Rejection::NotAMagnet(MagnetError::NotMagnet)),
            ),
            (
                "https://example.invalid/a.torrent".to_owned(),
                Err(Rejection::NotAMagnet(MagnetError::NotMagnet)),
            ),
            (
                "magnet:?dn=no-hash".to_owned(),
                Err(Rejection::NotAMagnet(MagnetError::MissingInfoHash)),
            ),
            (" \n# only a comment\n".to_owned(), Err(Rejection::Nothing)),
        ];
        for (text, expected) in table {
            assert_eq!(decide_text(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn rejections_say_why_in_a_sentence() {
        assert_eq!(
            Rejection::NotATorrent.message(),
            "That file is not a torrent"
        );
        assert_eq!(
            Rejection::NotAMagnet(MagnetError::NotMagnet).message(),
            "That is neither a magnet link nor a torrent file"
        );
        let message = Rejection::NotAMagnet(MagnetError::MissingInfoHash).message();
        assert!(
            message.starts_with("That link is not a magnet link: ")
                && message.contains("info-hash"),
            "{message}"
        );
    }

    #[test]
    fn arguments_naming_torrents_are_told_from_media() {
        let cwd = Path::new("/home/me");
        let link = magnet();
        assert_eq!(
            decide_argument(&link, Some(cwd)),
            Some(Ok(Open::Magnet(link.clone())))
        );
        assert_eq!(
            decide_argument("show.torrent", Some(cwd)),
            Some(Ok(Open::Torrent(PathBuf::from("/home/me/show.torrent"))))
        );
        assert_eq!(
            decide_argument("magnet:?xt=urn:btih:zz", Some(cwd)),
            Some(Err(Rejection::NotAMagnet(MagnetError::InvalidInfoHash(
                "zz".to_owned()
            ))))
        );
        assert_eq!(decide_argument("clip.mp4", Some(cwd)), None);
        assert_eq!(decide_argument("https://x.invalid/v.webm", None), None);
    }

    #[test]
    fn recent_entries_read_back_as_the_same_request() {
        for open in [
            Open::Torrent(PathBuf::from("/home/me/My Show.torrent")),
            Open::Magnet(magnet()),
        ] {
            let entry = open.recent_entry().expect("an entry");
            assert_eq!(decide_text(&entry), Ok(open));
        }
        assert_eq!(Open::Magnet(magnet()).display_name(), "Big Buck Bunny");
    }
}
