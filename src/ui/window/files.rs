//! The window's side of a torrent's files: the chooser of a multi-file
//! torrent, "next file" for series, and resuming each video, a torrent's
//! or a local file, where it was left (`playback-positions` in GSettings).

use super::*;
use crate::player::file_choice::PlayableFile;
use crate::ui::playback_positions::{PlaybackPositions, local_position_key, position_key};
use crate::ui::torrent_playback::TorrentFiles;
use std::time::Instant;

/// How often the playing video's position is saved while it plays; it is
/// also saved on pause, after a seek, and when the video is left.
const POSITION_SAVE_INTERVAL: Duration = Duration::from_secs(10);

/// The video on screen and where it is.
#[derive(Debug)]
pub struct PlayingFile {
    /// The torrent's file; `None` for a local file.
    pub file: Option<PlayableFile>,
    /// Its path in the torrent, or the local file's URI (for logs).
    name: String,
    /// `playback-positions` key.
    key: String,
    position_s: f64,
    duration_s: Option<f64>,
    saved_at: Instant,
    /// Save at the next position (a seek ended).
    save_due: bool,
    /// The session thread confirmed that this file plays: until then,
    /// what it sends is about the previous file.
    confirmed: bool,
    /// Playback began (logged once, with where it began).
    started: bool,
}

impl PiecewiseWindow {
    pub(super) fn setup_files(&self) {
        let play_chosen = gio::ActionEntry::builder("play-chosen-file")
            .activate(|window: &Self, _, _| {
                if let Some(file) = window.imp().video_chooser.selected() {
                    window.play_file(file);
                }
            })
            .build();
        let next = gio::ActionEntry::builder("next-file")
            .activate(|window: &Self, _, _| window.play_next_file())
            .build();
        self.add_action_entries([play_chosen, next]);
        self.show_next_file();
    }

    /// The torrent's playable files are known: one plays at once, several
    /// are offered, the largest selected.
    pub(super) fn show_files(&self, files: TorrentFiles) {
        let imp = self.imp();
        let largest = files.playable.first().map(|file| file.index);
        // A magnet link's name is known only now.
        imp.window_title.set_subtitle(&files.name);
        imp.files.replace(Some(files.clone()));
        let Some(largest) = largest else { return };
        if files.playable.len() == 1 {
            self.play_file(largest);
            return;
        }
        let names: Vec<&str> = files.playable.iter().map(|f| f.path.as_str()).collect();
        tracing::info!(?names, selected = ?names.first(), "choosing a video");
        imp.video_chooser
            .set_files(&files.name, &files.playable, largest);
        self.show_page("files");
    }

    /// Plays file `file` of the open torrent in place of the one playing,
    /// from where it was left last time.
    pub(super) fn play_file(&self, file: usize) {
        let imp = self.imp();
        let Some(files) = imp.files.borrow().clone() else {
            return;
        };
        let Some(playable) = files.playable.iter().find(|f| f.index == file).cloned() else {
            return;
        };
        self.save_position();
        let key = position_key(&files.info_hash, file);
        let start_s = self
            .settings()
            .and_then(|settings| PlaybackPositions::load(settings).resume_at(&key));
        let video_sink = match self.new_video_sink() {
            Ok(sink) => sink,
            Err(error) => {
                self.show_error(&gettext_f(
                    "The video player cannot start: {}.",
                    &[&error.to_string()],
                ));
                return;
            }
        };
        tracing::info!(file = %playable.path, ?start_s, "playing file");
        if files.playable.len() > 1 {
            let name = playable.path.rsplit('/').next().unwrap_or(&playable.path);
            imp.window_title.set_subtitle(name);
        }
        imp.announced_start.set(false);
        imp.stats_panel.clear_live();
        imp.opening_page
            .set_description(Some(&imp.window_title.subtitle()));
        self.reset_progress();
        imp.playing.replace(Some(PlayingFile {
            name: playable.path.clone(),
            file: Some(playable),
            key,
            position_s: start_s.unwrap_or(0.0),
            duration_s: None,
            saved_at: Instant::now(),
            save_due: false,
            confirmed: false,
            started: false,
        }));
        self.show_page("opening");
        if let Some(torrent) = imp.torrent.borrow().as_ref() {
            torrent.send(PlaybackCommand::PlayFile {
                file,
                video_sink,
                start_s,
            });
        }
    }

    /// Starts following the local file `uri` as the playing video; returns
    /// where it was left last time.
    pub(super) fn play_local_file(&self, uri: &str) -> Option<f64> {
        let key = local_position_key(uri);
        let start_s = self
            .settings()
            .and_then(|settings| PlaybackPositions::load(settings).resume_at(&key));
        self.imp().playing.replace(Some(PlayingFile {
            file: None,
            name: uri.to_owned(),
            key,
            position_s: start_s.unwrap_or(0.0),
            duration_s: None,
            saved_at: Instant::now(),
            save_due: false,
            // No session thread: the player's events are this file's.
            confirmed: true,
            started: false,
        }));
        start_s
    }

    /// The file after the playing one in natural name order.
    fn next_file(&self) -> Option<PlayableFile> {
        let imp = self.imp();
        let files = imp.files.borrow();
        let playing = imp.playing.borrow();
        files
            .as_ref()
            .zip(playing.as_ref())
            .and_then(|(files, playing)| files.next_after(playing.file.as_ref()?.index))
    }

    pub(super) fn file_started(&self, file: usize) {
        if let Some(playing) = self.imp().playing.borrow_mut().as_mut() {
            playing.confirmed |= playing.file.as_ref().is_some_and(|f| f.index == file);
        }
    }

    /// Whether `update` still describes the file played before the one
    /// just asked for (it was queued before the switch).
    pub(super) fn is_stale(&self, update: &PlaybackUpdate) -> bool {
        let about_the_file = matches!(
            update,
            PlaybackUpdate::Session(_)
                | PlaybackUpdate::Progress { .. }
                | PlaybackUpdate::Ranges(_)
        );
        about_the_file
            && self
                .imp()
                .playing
                .borrow()
                .as_ref()
                .is_some_and(|playing| !playing.confirmed)
    }

    fn play_next_file(&self) {
        if let Some(next) = self.next_file() {
            self.play_file(next.index);
        }
    }

    /// The next-file button and action (N) follow whether there is a next
    /// file; off the video page the action is disabled so that its key
    /// reaches text fields.
    pub(super) fn show_next_file(&self) {
        let imp = self.imp();
        let next = self.next_file();
        let on_video = imp.stack.visible_child_name().as_deref() == Some("video");
        self.set_action_enabled("next-file", next.is_some() && on_video);
        imp.next_button.set_visible(next.is_some());
        if let Some(next) = next {
            let name = next.path.rsplit('/').next().unwrap_or(&next.path);
            imp.next_button
                .set_tooltip_text(Some(&gettext_f("Next File: {}", &[name])));
        }
    }

    /// A video played to its end: the next file of a series follows on its
    /// own, as the next episode would.
    pub(super) fn file_finished(&self) {
        self.save_position();
        if let Some(next) = self.next_file() {
            let name = next.path.rsplit('/').next().unwrap_or(&next.path);
            self.toast(&gettext_f("Playing the next file, {}", &[name]));
            self.play_file(next.index);
        }
    }

    /// The playhead moved: saved every `POSITION_SAVE_INTERVAL`.
    pub(super) fn note_position(&self, position_s: f64, duration_s: Option<f64>) {
        let due = {
            let mut playing = self.imp().playing.borrow_mut();
            let Some(playing) = playing.as_mut() else {
                return;
            };
            playing.position_s = position_s;
            playing.duration_s = duration_s.or(playing.duration_s);
            playing.save_due || playing.saved_at.elapsed() >= POSITION_SAVE_INTERVAL
        };
        if due {
            self.save_position();
        }
    }

    /// Pausing saves the position; so does the first position after a
    /// seek.
    pub(super) fn playback_state_changed(
        &self,
        previous: Option<PlaybackState>,
        state: PlaybackState,
    ) {
        if state == PlaybackState::Paused {
            self.save_position();
            return;
        }
        let mut playing = self.imp().playing.borrow_mut();
        let Some(playing) = playing.as_mut() else {
            return;
        };
        if state == PlaybackState::Playing && !std::mem::replace(&mut playing.started, true) {
            tracing::info!(
                file = %playing.name,
                position_s = playing.position_s,
                "playing from"
            );
        }
        if previous == Some(PlaybackState::Seeking) && state != PlaybackState::Seeking {
            playing.save_due = true;
        }
    }

    /// Saves where the playing video is, unless it has not started yet (a
    /// resume still pending must not be overwritten by 0).
    pub(super) fn save_position(&self) {
        let imp = self.imp();
        let mut playing = imp.playing.borrow_mut();
        let (Some(playing), Some(settings)) = (playing.as_mut(), self.settings()) else {
            return;
        };
        playing.saved_at = Instant::now();
        playing.save_due = false;
        if imp.announced_start.get() || imp.state.get() == Some(PlaybackState::Ended) {
            let mut positions = PlaybackPositions::load(settings);
            if positions.remember(&playing.key, playing.position_s, playing.duration_s) {
                positions.save(settings);
                tracing::info!(
                    key = %playing.key,
                    position_s = playing.position_s,
                    "saved playback position"
                );
            }
        }
    }

    /// Forgets the torrent's files, saving where the video was first.
    pub(super) fn leave_files(&self) {
        self.save_position();
        let imp = self.imp();
        imp.playing.take();
        imp.files.take();
        self.show_next_file();
    }

    /// A new `gtk4paintablesink` whose picture the window shows.
    pub(super) fn new_video_sink(&self) -> anyhow::Result<gst::Element> {
        let sink = gst::ElementFactory::make("gtk4paintablesink").build()?;
        let paintable = sink.property::<gdk::Paintable>("paintable");
        self.imp().picture.set_paintable(Some(&paintable));
        Ok(sink)
    }
}
