//! The seek bar: a `GtkScale` with what the torrent holds drawn into its
//! trough — the downloaded parts of the file, the buffered range ahead of
//! the playhead and the time-critical window the engine fetches first.
//! Ranges are fractions of the duration (byte position ÷ file length: a
//! file's bytes spread over its duration about evenly), computed off the
//! GTK thread; drawing is a handful of rectangles in `snapshot`.

use crate::engine::bitfield::Bitfield;
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
    /// Where the engine's piece deadlines apply now.
    pub critical: Option<(f64, f64)>,
}

/// The verified parts of one file of a torrent, as fractions of the file's
/// length, merged and in order. `file_offset` is the file's first byte in
/// the torrent's data.
pub fn verified_fractions(
    verified: &Bitfield,
    piece_length: u64,
    file_offset: u64,
    file_length: u64,
) -> Vec<(f64, f64)> {
    let mut ranges: Vec<(f64, f64)> = Vec::new();
    let Some(file_end) = file_offset.checked_add(file_length) else {
        return ranges;
    };
    if piece_length == 0 || file_length == 0 {
        return ranges;
    }
    let first = file_offset / piece_length;
    let last = (file_end - 1) / piece_length;
    for piece in first..=last {
        let Ok(index) = u32::try_from(piece) else {
            break;
        };
        if index >= verified.len() || !verified.get(index) {
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
            if let Some((from, to)) = ranges.critical {
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

    fn bitfield(len: u32, set: &[u32]) -> Bitfield {
        let mut bits = Bitfield::new(len);
        for &index in set {
            bits.set(index);
        }
        bits
    }

    #[test]
    fn single_file_pieces_map_to_merged_fractions() {
        // 4 pieces of 100 bytes, a 400-byte file: pieces 0, 1 and 3.
        let ranges = verified_fractions(&bitfield(4, &[0, 1, 3]), 100, 0, 400);
        assert_eq!(ranges, vec![(0.0, 0.5), (0.75, 1.0)]);
    }

    #[test]
    fn pieces_shared_with_other_files_count_only_their_part_in_this_file() {
        // The file spans bytes 150..350 of pieces 1, 2 and 3 (100 bytes each).
        let ranges = verified_fractions(&bitfield(4, &[1, 3]), 100, 150, 200);
        assert_eq!(ranges, vec![(0.0, 0.25), (0.75, 1.0)]);
        let ranges = verified_fractions(&bitfield(4, &[0, 2]), 100, 150, 200);
        assert_eq!(ranges, vec![(0.25, 0.75)]);
    }

    #[test]
    fn short_last_piece_and_odd_inputs_stay_in_bounds() {
        // 250 bytes in pieces of 100: the last piece holds 50.
        assert_eq!(
            verified_fractions(&bitfield(3, &[2]), 100, 0, 250),
            vec![(0.8, 1.0)]
        );
        assert!(verified_fractions(&bitfield(3, &[0]), 0, 0, 250).is_empty());
        assert!(verified_fractions(&bitfield(3, &[0]), 100, 0, 0).is_empty());
        assert!(verified_fractions(&bitfield(3, &[0]), 100, u64::MAX, 10).is_empty());
        // A bitfield shorter than the file claims: the rest is missing.
        assert_eq!(
            verified_fractions(&bitfield(1, &[0]), 100, 0, 400),
            vec![(0.0, 0.25)]
        );
    }
}
