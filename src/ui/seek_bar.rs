//! The seek bar: a `GtkScale` with what the torrent holds drawn into its
//! trough — the downloaded parts of the file, the buffered range ahead of
//! the playhead — and under it the pieces the engine treats as
//! time-critical (`PieceState::TimeCritical`: inside a read head's
//! deadline window, or the container's head and tail before playback).
//! Ranges are fractions of the duration (byte position ÷ file length: a
//! file's bytes spread over its duration about evenly), computed off the
//! GTK thread; drawing is a handful of rectangles in `snapshot`.

use crate::engine::events::PieceState;
use crate::engine::metainfo::pieces_holding;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, glib, graphene};

/// What the seek bar shows besides the playhead, each as fractions 0–1 of
/// the duration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeekRanges {
    /// Verified parts of the playing file, in order, merged.
    pub downloaded: Vec<(f64, f64)>,
    /// Verified without a gap from the playhead on.
    pub buffered: Option<(f64, f64)>,
    /// The file's pieces the engine fetches before anything else now.
    pub critical: Vec<(f64, f64)>,
}

/// The parts of one file of a torrent that lie in pieces for which
/// `selected(piece)` holds, as fractions of the file's length, merged and
/// in order. `file_offset` is the file's first byte in the torrent's data.
pub fn piece_fractions(
    selected: impl Fn(u32) -> bool,
    piece_length: u64,
    file_offset: u64,
    file_length: u64,
) -> Vec<(f64, f64)> {
    let mut ranges: Vec<(f64, f64)> = Vec::new();
    let Some(file_end) = file_offset.checked_add(file_length) else {
        return ranges;
    };
    for piece in pieces_holding(file_offset..file_end, piece_length) {
        let Ok(index) = u32::try_from(piece) else {
            break;
        };
        if !selected(index) {
            continue;
        }
        let start = (piece * piece_length).max(file_offset) - file_offset;
        let end = piece
            .saturating_add(1)
            .saturating_mul(piece_length)
            .min(file_end)
            - file_offset;
        let span = (
            start as f64 / file_length as f64,
            end as f64 / file_length as f64,
        );
        match ranges.last_mut() {
            Some(previous) if previous.1 >= span.0 => previous.1 = span.1,
            _ => ranges.push(span),
        }
    }
    ranges
}

/// The parts of one file in pieces the engine treats as time-critical,
/// from the states of all the torrent's pieces (`TorrentHandle::piece_states`).
pub fn critical_fractions(
    states: &[PieceState],
    piece_length: u64,
    file_offset: u64,
    file_length: u64,
) -> Vec<(f64, f64)> {
    let critical = |piece: u32| {
        usize::try_from(piece)
            .ok()
            .and_then(|piece| states.get(piece))
            == Some(&PieceState::TimeCritical)
    };
    piece_fractions(critical, piece_length, file_offset, file_length)
}

/// Least height of the downloaded and buffered bands, pixels: Adwaita's
/// trough is thinner than that.
const BAND_HEIGHT: f32 = 4.0;

/// Light blue: on disk and verified.
const DOWNLOADED: gdk::RGBA = gdk::RGBA::new(0.38, 0.63, 0.92, 0.8);
/// Green: verified without a gap from the playhead on.
const BUFFERED: gdk::RGBA = gdk::RGBA::new(0.56, 0.85, 0.45, 0.95);
/// Orange: the engine's deadline window.
const CRITICAL: gdk::RGBA = gdk::RGBA::new(0.96, 0.47, 0.0, 0.9);

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/io/github/piecewise/Piecewise/ui/seek-bar.ui")]
    pub struct PiecewiseSeekBar {
        #[template_child]
        pub scale: TemplateChild<gtk::Scale>,
        pub ranges: RefCell<SeekRanges>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PiecewiseSeekBar {
        const NAME: &'static str = "PiecewiseSeekBar";
        type Type = super::PiecewiseSeekBar;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.set_layout_manager_type::<gtk::BinLayout>();
            klass.set_css_name("seekbar");
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PiecewiseSeekBar {
        fn dispose(&self) {
            self.scale.unparent();
        }
    }

    impl WidgetImpl for PiecewiseSeekBar {
        fn snapshot(&self, snapshot: &gtk::Snapshot) {
            let widget = self.obj();
            // The ranges under the scale: they show through its translucent
            // trough, and the played part and the slider stay on top.
            if let Some(trough) = widget.trough_bounds() {
                self.snapshot_ranges(snapshot, &trough);
            }
            widget.snapshot_child(&*self.scale, snapshot);
        }
    }

    impl PiecewiseSeekBar {
        fn snapshot_ranges(&self, snapshot: &gtk::Snapshot, trough: &graphene::Rect) {
            let ranges = self.ranges.borrow();
            let band = |from: f64, to: f64, y: f32, height: f32, colour: &gdk::RGBA| {
                let from = from.clamp(0.0, 1.0) as f32;
                let to = to.clamp(0.0, 1.0) as f32;
                let x = trough.x() + trough.width() * from;
                let width = (trough.width() * (to - from)).max(1.0);
                snapshot.append_color(colour, &graphene::Rect::new(x, y, width, height));
            };
            let height = trough.height().max(BAND_HEIGHT);
            let y = trough.y() + (trough.height() - height) / 2.0;
            for &(from, to) in &ranges.downloaded {
                band(from, to, y, height, &DOWNLOADED);
            }
            if let Some((from, to)) = ranges.buffered {
                band(from, to, y, height, &BUFFERED);
            }
            // Under the trough, so that it hides neither range.
            for &(from, to) in &ranges.critical {
                band(from, to, y + height + 2.0, 2.0, &CRITICAL);
            }
        }
    }
}

glib::wrapper! {
    pub struct PiecewiseSeekBar(ObjectSubclass<imp::PiecewiseSeekBar>)
        @extends gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl PiecewiseSeekBar {
    /// The scale people drag; the window handles its values.
    pub fn scale(&self) -> gtk::Scale {
        self.imp().scale.get()
    }

    /// Shows `ranges`; redraws only when they changed.
    pub fn set_ranges(&self, ranges: SeekRanges) {
        if *self.imp().ranges.borrow() != ranges {
            self.imp().ranges.replace(ranges);
            self.queue_draw();
        }
    }

    /// The scale's trough in this widget's coordinates.
    fn trough_bounds(&self) -> Option<graphene::Rect> {
        let scale = self.imp().scale.get();
        let mut child = scale.first_child();
        while let Some(widget) = child {
            if widget.css_name() == "trough" {
                return widget.compute_bounds(self);
            }
            child = widget.next_sibling();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Selects the pieces in `set` of a torrent with `len` pieces.
    fn pieces(len: u32, set: &'static [u32]) -> impl Fn(u32) -> bool {
        move |piece| piece < len && set.contains(&piece)
    }

    #[test]
    fn single_file_pieces_map_to_merged_fractions() {
        // 4 pieces of 100 bytes, a 400-byte file: pieces 0, 1 and 3.
        let ranges = piece_fractions(pieces(4, &[0, 1, 3]), 100, 0, 400);
        assert_eq!(ranges, vec![(0.0, 0.5), (0.75, 1.0)]);
    }

    #[test]
    fn pieces_shared_with_other_files_count_only_their_part_in_this_file() {
        // The file spans bytes 150..350 of pieces 1, 2 and 3 (100 bytes each).
        let ranges = piece_fractions(pieces(4, &[1, 3]), 100, 150, 200);
        assert_eq!(ranges, vec![(0.0, 0.25), (0.75, 1.0)]);
        let ranges = piece_fractions(pieces(4, &[0, 2]), 100, 150, 200);
        assert_eq!(ranges, vec![(0.25, 0.75)]);
    }

    #[test]
    fn critical_ranges_are_the_engines_time_critical_pieces_wherever_they_are() {
        use PieceState::{Downloading, Missing, TimeCritical, Verified};
        // The playhead's window (pieces 2 and 3) and the container's tail
        // (piece 7), not a window measured from the playhead.
        let states = [
            Verified,
            Verified,
            TimeCritical,
            TimeCritical,
            Missing,
            Downloading,
            Missing,
            TimeCritical,
        ];
        assert_eq!(
            critical_fractions(&states, 100, 0, 800),
            vec![(0.25, 0.5), (0.875, 1.0)]
        );
        // Only this file's part: the second file holds pieces 4 to 7.
        assert_eq!(
            critical_fractions(&states, 100, 400, 400),
            vec![(0.75, 1.0)]
        );
        assert!(critical_fractions(&[], 100, 0, 800).is_empty());
    }

    #[test]
    fn short_last_piece_and_odd_inputs_stay_in_bounds() {
        // 250 bytes in pieces of 100: the last piece holds 50.
        assert_eq!(
            piece_fractions(pieces(3, &[2]), 100, 0, 250),
            vec![(0.8, 1.0)]
        );
        assert!(piece_fractions(pieces(3, &[0]), 0, 0, 250).is_empty());
        assert!(piece_fractions(pieces(3, &[0]), 100, 0, 0).is_empty());
        assert!(piece_fractions(pieces(3, &[0]), 100, u64::MAX, 10).is_empty());
        // Fewer pieces than the file claims: the rest is missing.
        assert_eq!(
            piece_fractions(pieces(1, &[0]), 100, 0, 400),
            vec![(0.0, 0.25)]
        );
    }
}
