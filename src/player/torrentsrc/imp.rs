use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;

use super::{ReadWait, SourceRequest, URI_SCHEMES, open_uri};
use crate::player::byte_source::{ByteSource, SourceError, clamped_len};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        super::ELEMENT_NAME,
        gst::DebugColorFlags::empty(),
        Some("Piecewise torrent source"),
    )
});

#[derive(Default)]
struct Settings {
    location: Option<String>,
    download_dir: Option<PathBuf>,
    source: Option<Arc<dyn ByteSource>>,
}

#[derive(Default)]
enum State {
    #[default]
    Stopped,
    Started {
        source: Arc<dyn ByteSource>,
    },
}

#[derive(Default)]
pub struct TorrentSrc {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

/// A panic elsewhere must not turn every later call into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TorrentSrc {
    pub(super) fn set_source(&self, source: Arc<dyn ByteSource>) {
        lock(&self.settings).source = Some(source);
    }

    fn started_source(&self) -> Option<Arc<dyn ByteSource>> {
        match &*lock(&self.state) {
            State::Started { source } => Some(Arc::clone(source)),
            State::Stopped => None,
        }
    }

    fn set_location(&self, location: Option<String>) -> Result<(), glib::Error> {
        if matches!(*lock(&self.state), State::Started { .. }) {
            return Err(glib::Error::new(
                gst::URIError::BadState,
                "The location of a running torrentsrc cannot change",
            ));
        }
        if let Some(uri) = &location {
            let scheme = uri.split_once(':').map(|(scheme, _)| scheme);
            if !scheme.is_some_and(|scheme| {
                URI_SCHEMES
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(scheme))
            }) {
                return Err(glib::Error::new(
                    gst::URIError::UnsupportedProtocol,
                    &format!("torrentsrc cannot open “{uri}”"),
                ));
            }
        }
        lock(&self.settings).location = location;
        Ok(())
    }

    /// Reads with the bus told about any wait, so the player sees stalls.
    fn read_reporting_waits(
        &self,
        source: &dyn ByteSource,
        offset: u64,
        len: usize,
    ) -> Result<bytes::Bytes, SourceError> {
        if source.is_available(offset, len) {
            return source.read_at(offset, len);
        }
        let length = len as u64;
        gst::debug!(CAT, imp = self, "waiting for {length} bytes at {offset}");
        let obj = self.obj();
        // Posting fails only without a bus (no pipeline): nobody to tell.
        let _ = obj.post_message(ReadWait::Started { offset, length }.to_message(&*obj));
        let started = Instant::now();
        let result = source.read_at(offset, len);
        let ended = ReadWait::Ended {
            offset,
            length,
            waited: started.elapsed(),
            interrupted: result == Err(SourceError::Interrupted),
        };
        let _ = obj.post_message(ended.to_message(&*obj));
        result
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TorrentSrc {
    const NAME: &'static str = "PiecewiseTorrentSrc";
    type Type = super::TorrentSrc;
    type ParentType = gst_base::BaseSrc;
    type Interfaces = (gst::URIHandler,);
}

impl ObjectImpl for TorrentSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("The magnet: or torrent+file: URI to play")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("download-dir")
                    .nick("Download folder")
                    .blurb(
                        "Where the element's own engine keeps the torrent's data when it runs \
                         outside Piecewise (default: the user cache folder)",
                    )
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let text = value.get::<Option<String>>().ok().flatten();
        match pspec.name() {
            "location" => {
                if let Err(err) = self.set_location(text) {
                    gst::error!(CAT, imp = self, "cannot set location: {err}");
                }
            }
            "download-dir" => lock(&self.settings).download_dir = text.map(PathBuf::from),
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "location" => lock(&self.settings).location.to_value(),
            "download-dir" => lock(&self.settings)
                .download_dir
                .as_ref()
                .map(|dir| dir.display().to_string())
                .to_value(),
            // GObject only asks for properties declared above.
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_format(gst::Format::Bytes);
    }
}

impl GstObjectImpl for TorrentSrc {}

impl ElementImpl for TorrentSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Torrent source",
                "Source/Network",
                "Reads one file of a BitTorrent swarm, waiting for pieces as they arrive",
                "Piecewise",
            )
        });
        Some(&METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst::Caps::new_any(),
            )
            .map(|template| vec![template])
            .unwrap_or_default()
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSrcImpl for TorrentSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (explicit, location, download_dir) = {
            let settings = lock(&self.settings);
            (
                settings.source.clone(),
                settings.location.clone(),
                settings.download_dir.clone(),
            )
        };
        let source = match (explicit, location) {
            (Some(source), _) => source,
            (None, Some(uri)) => open_uri(&SourceRequest {
                uri: &uri,
                download_dir: download_dir.as_deref(),
            })
            .map_err(|err| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", err)))?,
            (None, None) => {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ("Nothing to play: the torrent source has neither a source nor a location.")
                ));
            }
        };
        // An explicit source may be reused after a stop that interrupted it.
        source.clear_interrupt();
        gst::info!(CAT, imp = self, "started, {} bytes", source.size());
        *lock(&self.state) = State::Started { source };
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::Stopped;
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        true
    }

    /// Typefinding takes the extension of the upstream URI's path and tries
    /// that format first; without it, it probes the start, the end and the
    /// middle of the file, all of which a torrent must then fetch before the
    /// first frame. A magnet URI has no path, so the URI query names the file
    /// inside the torrent instead (the location stays the handler's URI).
    fn query(&self, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Uri(uri_query) = query.view_mut() {
            if let Some(source) = self.started_source() {
                let path = glib::Uri::escape_string(source.file_name(), Some("/"), true);
                uri_query.set_uri(format!("piecewise:///{path}").as_str());
                return true;
            }
        }
        BaseSrcImplExt::parent_query(self, query)
    }

    fn size(&self) -> Option<u64> {
        self.started_source().map(|source| source.size())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(source) = self.started_source() {
            source.interrupt();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(source) = self.started_source() {
            source.clear_interrupt();
        }
        Ok(())
    }

    fn create(
        &self,
        offset: u64,
        buffer: Option<&mut gst::BufferRef>,
        length: u32,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let Some(source) = self.started_source() else {
            gst::element_imp_error!(self, gst::CoreError::StateChange, ["Read before start."]);
            return Err(gst::FlowError::Error);
        };
        let expected = clamped_len(source.size(), offset, length as usize);
        if expected == 0 {
            return Err(gst::FlowError::Eos);
        }
        let bytes = match self.read_reporting_waits(source.as_ref(), offset, expected) {
            Ok(bytes) => bytes,
            Err(SourceError::Interrupted) => return Err(gst::FlowError::Flushing),
            Err(SourceError::Failed(sentence)) => {
                gst::element_imp_error!(self, gst::ResourceError::Read, ("{}", sentence));
                return Err(gst::FlowError::Error);
            }
            Err(SourceError::DiskFull(sentence)) => {
                gst::element_imp_error!(self, gst::ResourceError::NoSpaceLeft, ("{}", sentence));
                return Err(gst::FlowError::Error);
            }
        };
        // GStreamer takes a short buffer for the end of the file: insist.
        if bytes.len() != expected {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Read,
                (
                    "The torrent source returned {} bytes at byte {} where {} were due.",
                    bytes.len(),
                    offset,
                    expected
                )
            );
            return Err(gst::FlowError::Error);
        }
        let end = offset.saturating_add(bytes.len() as u64);
        match buffer {
            Some(buffer) => {
                let written = bytes.len().min(buffer.size());
                let Some(head) = bytes.get(..written) else {
                    return Err(gst::FlowError::Error);
                };
                buffer
                    .copy_from_slice(0, head)
                    .map_err(|_| gst::FlowError::Error)?;
                buffer.set_size(written);
                buffer.set_offset(offset);
                buffer.set_offset_end(end);
                Ok(CreateSuccess::FilledBuffer)
            }
            None => {
                let mut buffer = gst::Buffer::from_slice(bytes);
                let buffer_mut = buffer.make_mut();
                buffer_mut.set_offset(offset);
                buffer_mut.set_offset_end(end);
                Ok(CreateSuccess::NewBuffer(buffer))
            }
        }
    }
}

impl URIHandlerImpl for TorrentSrc {
    const URI_TYPE: gst::URIType = gst::URIType::Src;

    fn protocols() -> &'static [&'static str] {
        URI_SCHEMES
    }

    fn uri(&self) -> Option<String> {
        lock(&self.settings).location.clone()
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        self.set_location(Some(uri.to_owned()))
    }
}
