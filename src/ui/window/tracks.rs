//! The window's side of the track menus: the stateful actions behind them
//! and the tracks the player reports.

use super::*;
use crate::player::Tracks;
use crate::ui::track_menus::{AUDIO_ACTION, NO_TRACK, SUBTITLE_ACTION, track_labels};

impl PiecewiseWindow {
    /// `win.audio-track(i)` and `win.subtitle-track(i)`: activating one asks
    /// the player for that track; the state changes only when the player
    /// reports the track playing (`show_tracks`).
    pub(super) fn setup_track_actions(&self) {
        let choose = |name: &str, command: fn(i32) -> Option<PlaybackCommand>, initial: i32| {
            gio::ActionEntry::builder(name)
                .parameter_type(Some(glib::VariantTy::INT32))
                .state(initial.to_variant())
                .activate(move |window: &Self, _, target| {
                    if let Some(command) = target.and_then(|t| t.get::<i32>()).and_then(command) {
                        window.command(command);
                    }
                })
                .build()
        };
        self.add_action_entries([
            choose(
                AUDIO_ACTION,
                |index| {
                    usize::try_from(index)
                        .ok()
                        .map(PlaybackCommand::SelectAudio)
                },
                0,
            ),
            choose(
                SUBTITLE_ACTION,
                |index| Some(PlaybackCommand::SelectText(usize::try_from(index).ok())),
                NO_TRACK,
            ),
        ]);
    }

    /// Shows `tracks` in the menus and the playing ones as the actions'
    /// state.
    pub(super) fn show_tracks(&self, tracks: &Tracks) {
        self.imp().track_menus.show_tracks(tracks);
        let state = |current: Option<usize>| {
            current
                .and_then(|index| i32::try_from(index).ok())
                .unwrap_or(NO_TRACK)
        };
        let audio = state(tracks.current_audio);
        let text = state(tracks.current_text);
        for (name, value) in [(AUDIO_ACTION, audio), (SUBTITLE_ACTION, text)] {
            if let Some(action) = self.lookup_action(name).and_downcast::<gio::SimpleAction>() {
                action.set_state(&value.to_variant());
            }
        }
        tracing::info!(
            audio = ?track_labels(&tracks.audio),
            current_audio = audio,
            text = ?track_labels(&tracks.text),
            current_text = text,
            "tracks"
        );
    }
}
