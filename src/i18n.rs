//! Translations through the system gettext.

use crate::config::{GETTEXT_PACKAGE, LOCALEDIR};
use gettextrs::LocaleCategory;
use std::path::PathBuf;

pub use gettextrs::gettext;

/// Binds the gettext domain. A failure only means untranslated strings, so
/// it is logged, not returned.
pub fn init() {
    gettextrs::setlocale(LocaleCategory::LcAll, "");
    let bound = gettextrs::bindtextdomain(GETTEXT_PACKAGE, locale_dir())
        .and_then(|_| gettextrs::bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8"))
        .and_then(|_| gettextrs::textdomain(GETTEXT_PACKAGE));
    if let Err(error) = bound {
        tracing::debug!(%error, "translations unavailable");
    }
}

/// `../share/locale` beside the executable when it exists, so that an
/// install under any prefix (`make install PREFIX=…`, the Flatpak's `/app`)
/// and the build tree (`make translations` writes `target/share/locale`)
/// find their translations without a rebuild; `LOCALEDIR` otherwise.
fn locale_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/locale")))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from(LOCALEDIR))
}

/// Translates `format`, then replaces each `{}` in it, in order, with the
/// next of `args`. Translators may not reorder the placeholders.
pub fn gettext_f(format: &str, args: &[&str]) -> String {
    let translated = gettext(format);
    let mut pieces = translated.split("{}");
    let mut out = pieces.next().unwrap_or_default().to_owned();
    let mut args = args.iter();
    for piece in pieces {
        out.push_str(args.next().copied().unwrap_or_default());
        out.push_str(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::gettext_f;

    #[test]
    fn gettext_f_fills_placeholders_in_order() {
        assert_eq!(gettext_f("{} of {}", &["1:00", "2:00"]), "1:00 of 2:00");
        assert_eq!(gettext_f("no placeholder", &["x"]), "no placeholder");
        assert_eq!(gettext_f("{} and {}", &["a"]), "a and ");
    }
}
