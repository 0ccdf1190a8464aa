//! The piece map of the playing file: one cell per piece (or per group of
//! pieces when the file has more pieces than the widget has room for),
//! coloured by state, with the playhead as a bar. Drawn in `snapshot`.

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, glib, graphene};

use crate::engine::events::PieceState;
use crate::engine::metainfo::{Info, pieces_holding};

/// Largest cell side, logical pixels: a short file's few pieces stay
/// readable squares instead of filling the widget.
const MAX_CELL: f32 = 12.0;

/// Gap between cells, logical pixels, once cells are big enough to show it.
const CELL_GAP: f32 = 1.0;

/// Width of the playhead bar, logical pixels.
const PLAYHEAD_WIDTH: f32 = 2.0;

/// The pieces of one file and where the playhead is among them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PieceView {
    /// States of the file's pieces, first to last.
    pub states: Vec<PieceState>,
    /// Index into `states` of the piece under the playhead.
    pub playhead: Option<usize>,
}

impl PieceView {
    /// The slice of `all` (every piece of the torrent) that holds file
    /// `file`, with the playhead at byte `playhead_byte` of the file.
    pub fn of_file(
        info: &Info,
        file: usize,
        all: &[PieceState],
        playhead_byte: Option<u64>,
    ) -> Self {
        let Some(entry) = info.files.get(file) else {
            return Self::default();
        };
        let piece_length = u64::from(info.piece_length);
        let file_end = entry.offset.saturating_add(entry.length);
        let pieces = pieces_holding(entry.offset..file_end, piece_length);
        let index = |piece: u64| usize::try_from(piece).unwrap_or(usize::MAX);
        let states = all
            .get(index(pieces.start)..index(pieces.end).min(all.len()))
            .unwrap_or_default()
            .to_vec();
        // Some states means some pieces: a non-empty file, pieces of some length.
        let playhead = playhead_byte
            .filter(|_| !states.is_empty())
            .map(|byte| {
                let byte = entry.offset.saturating_add(byte).min(file_end - 1);
                index(byte / piece_length - pieces.start)
            })
            .filter(|&piece| piece < states.len());
        Self { states, playhead }
    }
}

/// The colour of a piece state; `dark` for dark surroundings. The GNOME
/// palette, in shades the charts' series do not use, so the two never
/// read as one another.
pub fn state_colour(state: PieceState, dark: bool) -> gdk::RGBA {
    match (state, dark) {
        (PieceState::Verified, false) => rgb(0x2e, 0xc2, 0x7e),
        (PieceState::Verified, true) => rgb(0x33, 0xd1, 0x7a),
        (PieceState::Downloading, false) => rgb(0xf5, 0xc2, 0x11),
        (PieceState::Downloading, true) => rgb(0xf8, 0xe4, 0x5c),
        (PieceState::TimeCritical, false) => rgb(0xff, 0x78, 0x00),
        (PieceState::TimeCritical, true) => rgb(0xff, 0xbe, 0x6f),
        (PieceState::Missing, false) => rgb(0xde, 0xdd, 0xda),
        (PieceState::Missing, true) => rgb(0x45, 0x45, 0x45),
    }
}

/// The playhead's colour.
pub fn playhead_colour(dark: bool) -> gdk::RGBA {
    if dark {
        rgb(0xff, 0x7b, 0x63)
    } else {
        rgb(0xa5, 0x1d, 0x2d)
    }
}

fn rgb(red: u8, green: u8, blue: u8) -> gdk::RGBA {
    let channel = |value: u8| f32::from(value) / 255.0;
    gdk::RGBA::new(channel(red), channel(green), channel(blue), 1.0)
}

/// What one cell shows when it stands for several pieces: the most
/// urgent state among them, so a lone missing or critical piece is never
/// hidden by verified neighbours.
pub fn merged_state(states: &[PieceState]) -> PieceState {
    let urgency = |state: &PieceState| match state {
        PieceState::Verified => 0,
        PieceState::Downloading => 1,
        PieceState::Missing => 2,
        PieceState::TimeCritical => 3,
    };
    states
        .iter()
        .copied()
        .max_by_key(urgency)
        .unwrap_or(PieceState::Missing)
}

/// Where cells go: rows of `columns` square cells of side `cell`, each
/// standing for `pieces_per_cell` consecutive pieces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub cell: f32,
    pub columns: usize,
    pub pieces_per_cell: usize,
}

impl Layout {
    /// The biggest cells (up to `MAX_CELL`) that fit `pieces` into
    /// `width` × `height`; below one pixel a cell, cells group pieces.
    pub fn fit(pieces: usize, width: f32, height: f32) -> Self {
        let (width, height) = (width.max(1.0), height.max(1.0));
        let pieces = pieces.max(1);
        // The side of a square cell if the pieces tiled the area exactly;
        // rows round up, so shrink until they fit.
        let mut cell = (width * height / pieces as f32)
            .sqrt()
            .min(MAX_CELL)
            .floor();
        while cell >= 1.0 {
            let columns = (width / cell).floor().max(1.0) as usize;
            let rows = pieces.div_ceil(columns);
            if rows as f32 * cell <= height {
                return Self {
                    cell,
                    columns,
                    pieces_per_cell: 1,
                };
            }
            cell -= 1.0;
        }
        let columns = width.floor() as usize;
        let cells = columns * height.floor() as usize;
        Self {
            cell: 1.0,
            columns,
            pieces_per_cell: pieces.div_ceil(cells.max(1)),
        }
    }

    /// The top-left corner of the cell holding piece `piece`.
    pub fn origin(&self, piece: usize) -> (f32, f32) {
        let index = piece / self.pieces_per_cell;
        let column = index % self.columns;
        let row = index / self.columns;
        (column as f32 * self.cell, row as f32 * self.cell)
    }
}

mod imp {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    pub struct PieceMap {
        pub view: RefCell<PieceView>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PieceMap {
        const NAME: &'static str = "PiecewisePieceMap";
        type Type = super::PieceMap;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.set_accessible_role(gtk::AccessibleRole::Img);
        }
    }

    impl ObjectImpl for PieceMap {
        fn constructed(&self) {
            self.parent_constructed();
            let widget = self.obj();
            adw::StyleManager::default().connect_dark_notify(glib::clone!(
                #[weak]
                widget,
                move |_| widget.queue_draw()
            ));
        }
    }

    impl WidgetImpl for PieceMap {
        fn snapshot(&self, snapshot: &gtk::Snapshot) {
            let widget = self.obj();
            let view = self.view.borrow();
            let (width, height) = (widget.width() as f32, widget.height() as f32);
            let dark = adw::StyleManager::default().is_dark();
            let layout = Layout::fit(view.states.len(), width, height);
            let gap = if layout.cell >= 4.0 { CELL_GAP } else { 0.0 };
            for (group, states) in view.states.chunks(layout.pieces_per_cell).enumerate() {
                let (x, y) = layout.origin(group * layout.pieces_per_cell);
                snapshot.append_color(
                    &state_colour(merged_state(states), dark),
                    &graphene::Rect::new(x, y, layout.cell - gap, layout.cell - gap),
                );
            }
            if let Some(piece) = view.playhead {
                let (x, y) = layout.origin(piece);
                snapshot.append_color(
                    &playhead_colour(dark),
                    &graphene::Rect::new(x, y, PLAYHEAD_WIDTH, layout.cell),
                );
            }
        }
    }
}

glib::wrapper! {
    pub struct PieceMap(ObjectSubclass<imp::PieceMap>)
        @extends gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl PieceMap {
    pub fn set_view(&self, view: PieceView) {
        if *self.imp().view.borrow() != view {
            self.imp().view.replace(view);
            self.queue_draw();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metainfo::FileEntry;
    use std::path::PathBuf;

    #[test]
    fn every_state_has_its_own_colour_in_light_and_dark() {
        let states = [
            PieceState::Missing,
            PieceState::TimeCritical,
            PieceState::Downloading,
            PieceState::Verified,
        ];
        for dark in [false, true] {
            let colours: Vec<String> = states
                .iter()
                .map(|&state| state_colour(state, dark).to_string())
                .chain([playhead_colour(dark).to_string()])
                .collect();
            let mut distinct = colours.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), colours.len(), "{colours:?}");
        }
        assert_ne!(
            state_colour(PieceState::Verified, false),
            state_colour(PieceState::Verified, true)
        );
    }

    #[test]
    fn piece_colours_are_not_chart_series_colours() {
        use crate::stats::chart::ChartStyle;
        for (dark, style) in [(false, ChartStyle::LIGHT), (true, ChartStyle::DARK)] {
            let series: Vec<gdk::RGBA> = style
                .palette
                .iter()
                .map(|colour| rgb(colour.0, colour.1, colour.2))
                .collect();
            for state in [
                PieceState::Missing,
                PieceState::TimeCritical,
                PieceState::Downloading,
                PieceState::Verified,
            ] {
                assert!(!series.contains(&state_colour(state, dark)), "{state:?}");
            }
            assert!(!series.contains(&playhead_colour(dark)));
        }
    }

    #[test]
    fn a_grouped_cell_shows_its_most_urgent_piece() {
        use PieceState::*;
        assert_eq!(merged_state(&[Verified, Verified]), Verified);
        assert_eq!(merged_state(&[Verified, Downloading]), Downloading);
        assert_eq!(merged_state(&[Downloading, Missing, Verified]), Missing);
        assert_eq!(merged_state(&[Missing, TimeCritical]), TimeCritical);
        assert_eq!(merged_state(&[]), Missing);
    }

    #[test]
    fn few_pieces_get_big_cells_in_rows_that_fit() {
        let layout = Layout::fit(10, 300.0, 80.0);
        assert_eq!(layout.cell, MAX_CELL);
        assert_eq!(layout.pieces_per_cell, 1);
        assert_eq!(layout.columns, 25);
        assert_eq!(layout.origin(0), (0.0, 0.0));
        assert_eq!(layout.origin(9), (9.0 * MAX_CELL, 0.0));

        let layout = Layout::fit(1000, 300.0, 80.0);
        assert_eq!(layout.pieces_per_cell, 1);
        let rows = 1000_usize.div_ceil(layout.columns);
        assert!(rows as f32 * layout.cell <= 80.0, "{layout:?}");
        assert!(layout.columns as f32 * layout.cell <= 300.0, "{layout:?}");
        // Row-major: the piece after a full row starts the next one.
        assert_eq!(layout.origin(layout.columns), (0.0, layout.cell));
    }

    #[test]
    fn more_pieces_than_pixels_are_grouped_into_one_pixel_cells() {
        let layout = Layout::fit(100_000, 100.0, 50.0);
        assert_eq!(layout.cell, 1.0);
        assert_eq!(layout.columns, 100);
        assert_eq!(layout.pieces_per_cell, 20);
        // The last piece still lands inside the widget.
        let (x, y) = layout.origin(99_999);
        assert!(x < 100.0 && y < 50.0, "({x}, {y})");
        assert_eq!(layout.origin(19), (0.0, 0.0));
        assert_eq!(layout.origin(20), (1.0, 0.0));
    }

    #[test]
    fn the_view_holds_only_the_files_pieces_and_places_the_playhead() {
        let file = |offset: u64, length: u64| FileEntry {
            path: PathBuf::from(format!("f{offset}")),
            length,
            offset,
            pad: false,
        };
        let info = Info {
            name: "t".into(),
            piece_length: 100,
            piece_hashes: vec![[0; 20]; 10],
            files: vec![file(0, 250), file(250, 750)],
            total_length: 1000,
            private: false,
        };
        let mut all = vec![PieceState::Missing; 10];
        all[2] = PieceState::Verified;
        all[3] = PieceState::TimeCritical;
        // The second file spans pieces 2..=9.
        let view = PieceView::of_file(&info, 1, &all, Some(120));
        assert_eq!(view.states.len(), 8);
        assert_eq!(view.states[0], PieceState::Verified);
        assert_eq!(view.states[1], PieceState::TimeCritical);
        // Byte 120 of the file is byte 370 of the torrent: piece 3.
        assert_eq!(view.playhead, Some(1));
        let end = PieceView::of_file(&info, 1, &all, Some(10_000));
        assert_eq!(end.playhead, Some(7), "clamped to the last piece");
        assert_eq!(
            PieceView::of_file(&info, 5, &all, None),
            PieceView::default()
        );
    }
}
