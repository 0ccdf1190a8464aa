//! `torrentsrc`: a seekable, pull-mode GStreamer source that reads one file
//! of a torrent through a [`ByteSource`]. See `DESIGN.md` beside this file.
//!
//! Two ways to give it its bytes:
//! - the application calls [`TorrentSrc::set_source`] before the element
//!   starts (with playbin: in its `source-setup` signal);
//! - the element resolves its `location` (a `magnet:` or `torrent+file:` URI,
//!   also set by playbin through [`gst::URIHandler`]) with the factory
//!   installed by [`set_source_factory`].

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::byte_source::{ByteSource, SourceError};

mod imp;
pub mod own_engine;

glib::wrapper! {
    pub struct TorrentSrc(ObjectSubclass<imp::TorrentSrc>)
        @extends gst_base::BaseSrc, gst::Element, gst::Object,
        @implements gst::URIHandler;
}

/// The element's factory name.
pub const ELEMENT_NAME: &str = "torrentsrc";

/// URI schemes the element handles, so that `playbin uri=magnet:?xt=…`
/// picks it. `torrent+file:///path/x.torrent` names a torrent file (plain
/// `file:` belongs to `filesrc`). Which file of the torrent to play is the
/// factory's business (e.g. BEP 53 `so=` in a magnet link).
pub const URI_SCHEMES: &[&str] = &["magnet", "torrent+file"];

impl TorrentSrc {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Reads from `source` from the next start on; takes precedence over
    /// `location`.
    pub fn set_source(&self, source: Arc<dyn ByteSource>) {
        self.imp().set_source(source);
    }
}

impl Default for TorrentSrc {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers the element in this process (after `gst::init`), or in
/// `plugin` when built as a GStreamer plugin library.
pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(
        plugin,
        ELEMENT_NAME,
        gst::Rank::PRIMARY,
        TorrentSrc::static_type(),
    )
}

/// What an element without an explicit source asks the factory for.
#[derive(Clone, Copy, Debug)]
pub struct SourceRequest<'a> {
    /// The element's `location`.
    pub uri: &'a str,
    /// The element's `download-dir`, if set: where a factory that runs its
    /// own engine keeps the data.
    pub download_dir: Option<&'a Path>,
}

/// Turns a request into the source of its bytes.
pub type SourceFactory =
    dyn Fn(&SourceRequest) -> Result<Arc<dyn ByteSource>, SourceError> + Send + Sync;

static SOURCE_FACTORY: RwLock<Option<Arc<SourceFactory>>> = RwLock::new(None);

/// Installs how every `torrentsrc` without an explicit source resolves its
/// `location`, replacing the previous factory.
pub fn set_source_factory(factory: Arc<SourceFactory>) {
    *SOURCE_FACTORY
        .write()
        .unwrap_or_else(PoisonError::into_inner) = Some(factory);
}

fn open_uri(request: &SourceRequest) -> Result<Arc<dyn ByteSource>, SourceError> {
    let factory = SOURCE_FACTORY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match factory {
        Some(factory) => factory(request),
        None => Err(SourceError::Failed(format!(
            "No torrent engine is running to open “{}”.",
            request.uri
        ))),
    }
}

const WAITING: &str = "piecewise-waiting";
const WAITING_DONE: &str = "piecewise-waiting-done";

/// Element messages `torrentsrc` posts on the bus when a read has to wait
/// for data that is not there yet, and when that wait ends: the player's
/// stall signal, independent of any buffering queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadWait {
    Started {
        offset: u64,
        length: u64,
    },
    Ended {
        offset: u64,
        length: u64,
        waited: Duration,
        /// The wait ended because of a flushing seek or a state change, not
        /// because the data arrived.
        interrupted: bool,
    },
}

impl ReadWait {
    /// Recognises the messages posted by `torrentsrc`.
    pub fn from_message(message: &gst::MessageRef) -> Option<Self> {
        let gst::MessageView::Element(element) = message.view() else {
            return None;
        };
        let structure = element.structure()?;
        let offset = structure.get::<u64>("offset").ok()?;
        let length = structure.get::<u64>("length").ok()?;
        match structure.name().as_str() {
            WAITING => Some(Self::Started { offset, length }),
            WAITING_DONE => Some(Self::Ended {
                offset,
                length,
                waited: structure.get::<gst::ClockTime>("waited").ok()?.into(),
                interrupted: structure.get::<bool>("interrupted").ok()?,
            }),
            _ => None,
        }
    }

    fn to_message(&self, src: &impl IsA<gst::Object>) -> gst::Message {
        let structure = match *self {
            Self::Started { offset, length } => gst::Structure::builder(WAITING)
                .field("offset", offset)
                .field("length", length)
                .build(),
            Self::Ended {
                offset,
                length,
                waited,
                interrupted,
            } => gst::Structure::builder(WAITING_DONE)
                .field("offset", offset)
                .field("length", length)
                .field(
                    "waited",
                    gst::ClockTime::try_from(waited).unwrap_or(gst::ClockTime::MAX),
                )
                .field("interrupted", interrupted)
                .build(),
        };
        gst::message::Element::builder(structure).src(src).build()
    }
}
