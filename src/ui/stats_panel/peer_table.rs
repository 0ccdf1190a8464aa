//! The peer table: a `GtkColumnView` over the engine's peer snapshot
//! (address, client, ↓/↑ rate, share of pieces, flags), refreshed with the
//! panel.

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::engine::events::PeerSnapshot;
use crate::i18n::gettext;
use crate::ui::status_line::rate_text;

/// One row: the peer and the torrent's piece count, for its share.
#[derive(Clone, Debug)]
struct PeerRow {
    peer: PeerSnapshot,
    piece_count: u32,
}

/// A row's text in one column.
type CellText = fn(&PeerRow) -> String;

/// Adds the columns to `view` and returns the model to fill with
/// [`show_peers`].
pub fn set_up(view: &gtk::ColumnView) -> gio::ListStore {
    let store = gio::ListStore::new::<glib::BoxedAnyObject>();
    let sorted = gtk::NoSelection::new(Some(store.clone()));
    view.set_model(Some(&sorted));
    let columns: [(String, CellText, bool); 6] = [
        (gettext("Address"), |row| row.peer.addr.to_string(), false),
        (
            gettext("Client"),
            |row| row.peer.client.clone().unwrap_or_default(),
            true,
        ),
        (
            // Translators: download rate column.
            gettext("↓"),
            |row| rate_text(row.peer.download_rate),
            false,
        ),
        (
            // Translators: upload rate column.
            gettext("↑"),
            |row| rate_text(row.peer.upload_rate),
            false,
        ),
        (
            gettext("Pieces"),
            |row| share_of_pieces(row.peer.pieces, row.piece_count),
            false,
        ),
        (gettext("Flags"), |row| flags(&row.peer), true),
    ];
    for (title, text, expand) in columns {
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(|_, item| {
            let label = gtk::Label::builder().xalign(0.0).build();
            label.add_css_class("numeric");
            if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                item.set_child(Some(&label));
            }
        });
        factory.connect_bind(move |_, item| {
            let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                return;
            };
            let row = item.item().and_downcast::<glib::BoxedAnyObject>();
            let label = item.child().and_downcast::<gtk::Label>();
            if let (Some(row), Some(label)) = (row, label) {
                label.set_label(&text(&row.borrow::<PeerRow>()));
            }
        });
        let column = gtk::ColumnViewColumn::new(Some(&title), Some(factory));
        column.set_expand(expand);
        column.set_resizable(true);
        view.append_column(&column);
    }
    store
}

/// Replaces the rows with `peers`, fastest downloads first.
pub fn show_peers(store: &gio::ListStore, peers: &[PeerSnapshot], piece_count: u32) {
    let mut rows: Vec<PeerRow> = peers
        .iter()
        .map(|peer| PeerRow {
            peer: peer.clone(),
            piece_count,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.peer
            .download_rate
            .total_cmp(&a.peer.download_rate)
            .then(a.peer.addr.cmp(&b.peer.addr))
    });
    let objects: Vec<glib::BoxedAnyObject> =
        rows.into_iter().map(glib::BoxedAnyObject::new).collect();
    store.splice(0, store.n_items(), &objects);
}

/// The peer's pieces as a percentage of the torrent's.
pub fn share_of_pieces(pieces: u32, piece_count: u32) -> String {
    if piece_count == 0 {
        return String::from("–");
    }
    let percent = f64::from(pieces) * 100.0 / f64::from(piece_count);
    format!("{percent:.0} %")
}

/// The peer's flags in words, comma-separated.
pub fn flags(peer: &PeerSnapshot) -> String {
    [
        // Translators: peer flag: it does not let us download.
        (peer.choking_us, gettext("choked")),
        // Translators: peer flag: it wants data we have.
        (peer.interested_in_us, gettext("interested")),
        // Translators: peer flag: it stopped sending what we asked for.
        (peer.snubbed, gettext("snubbed")),
        // Translators: peer flag: it connected to us.
        (peer.incoming, gettext("incoming")),
    ]
    .into_iter()
    .filter_map(|(set, word)| set.then_some(word))
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerSnapshot {
        PeerSnapshot {
            addr: "127.0.0.1:6881".parse().unwrap(),
            client: Some("libtorrent 2.0.8".into()),
            download_rate: 0.0,
            upload_rate: 0.0,
            pieces: 0,
            choking_us: false,
            interested_in_us: false,
            choked_by_us: true,
            we_are_interested: false,
            snubbed: false,
            incoming: false,
        }
    }

    #[test]
    fn flags_name_what_is_set_in_order() {
        assert_eq!(flags(&peer()), "");
        let all = PeerSnapshot {
            choking_us: true,
            interested_in_us: true,
            snubbed: true,
            incoming: true,
            ..peer()
        };
        assert_eq!(flags(&all), "choked, interested, snubbed, incoming");
        let some = PeerSnapshot {
            snubbed: true,
            ..peer()
        };
        assert_eq!(flags(&some), "snubbed");
    }

    #[test]
    fn share_of_pieces_is_a_rounded_percentage() {
        assert_eq!(share_of_pieces(0, 10), "0 %");
        assert_eq!(share_of_pieces(1, 3), "33 %");
        assert_eq!(share_of_pieces(10, 10), "100 %");
        assert_eq!(share_of_pieces(0, 0), "–");
    }
}
