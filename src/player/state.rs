//! The playback state machine: pure, so every transition has a table test.
//!
//! ```text
//!            Open                    PipelinePlaying
//!   (any) ─────────► Opening ───────────────────────────► Playing ◄──┐
//!                       │ PipelinePaused + intent Pause      │  ▲    │ BufferingDone
//!                       ▼                          UserPause │  │    │
//!                     Paused ◄───────────────────────────────┘  │  Stalled
//!                       │  UserPlay + PipelinePlaying ──────────┘    ▲
//!                       │                        BufferingLow (Playing)
//!   SeekStarted: Opening/Playing/Paused/Stalled/Ended ──► Seeking ──SeekDone──► Playing | Paused
//!   EndOfStream ──► Ended          Failed ──► Error (left only by Open)
//! ```
//!
//! `Prebuffering` sits between `Opening` and `Playing`: data is low before
//! playback first started (the startup rule decides when enough of the
//! torrent is there); the same signal later is a stall. It ends in
//! `Playing` only when the pipeline reports PLAYING, which is after its
//! first preroll: data that is all there at once must not make a
//! pipeline that cannot seek yet look like it plays.

/// What the user asked for last; the pipeline follows it when it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Play,
    Pause,
}

/// Where playback is, as the user sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaybackState {
    /// A new source is being opened and prerolled.
    Opening,
    /// Waiting, paused, until enough data is there to start playing.
    Prebuffering,
    /// Frames are being shown.
    Playing,
    /// Playback wants to run but waits for data (buffering below 100 %).
    Stalled,
    /// Paused by the user.
    Paused,
    /// A seek is in flight; ends when the pipeline has prerolled again.
    Seeking,
    /// The stream reached its end.
    Ended,
    /// Playback failed; only opening something else leaves this state.
    Error,
}

/// Everything that moves the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Open,
    UserPlay,
    UserPause,
    PipelinePlaying,
    PipelinePaused,
    BufferingLow,
    BufferingDone,
    SeekStarted,
    SeekDone,
    EndOfStream,
    Failed,
}

impl PlaybackState {
    /// The state after `input`, given the user's current `intent`.
    pub fn next(self, input: Input, intent: Intent) -> Self {
        use Input as I;
        use PlaybackState as S;
        let settled = match intent {
            Intent::Play => S::Playing,
            Intent::Pause => S::Paused,
        };
        match (self, input) {
            (_, I::Open) => S::Opening,
            (S::Error, _) => S::Error,
            (_, I::Failed) => S::Error,
            (_, I::EndOfStream) => S::Ended,
            (_, I::SeekStarted) => S::Seeking,
            (S::Seeking, I::SeekDone) => settled,
            // A flushing seek makes the pipeline lose and regain its state;
            // those changes are not the user's.
            (S::Seeking, _) => S::Seeking,
            (S::Ended, _) => S::Ended,
            (S::Opening, I::BufferingLow) => S::Prebuffering,
            (S::Playing, I::BufferingLow) => S::Stalled,
            (S::Stalled, I::BufferingDone) => settled,
            // The first start waits for the pipeline (see above).
            (S::Prebuffering, I::BufferingDone) if intent == Intent::Pause => S::Paused,
            (S::Prebuffering, I::PipelinePlaying) if intent == Intent::Play => S::Playing,
            (S::Stalled | S::Prebuffering, I::UserPause) => S::Paused,
            (S::Stalled, _) => S::Stalled,
            (S::Prebuffering, _) => S::Prebuffering,
            (_, I::PipelinePlaying) if intent == Intent::Play => S::Playing,
            (S::Opening | S::Playing, I::PipelinePaused) if intent == Intent::Pause => S::Paused,
            (S::Playing, I::UserPause) => S::Paused,
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Input as I, Intent, PlaybackState as S};

    #[test]
    fn transitions_follow_the_table() {
        let play = Intent::Play;
        let pause = Intent::Pause;
        let table = [
            (S::Error, I::Open, play, S::Opening),
            (S::Opening, I::PipelinePaused, play, S::Opening),
            (S::Opening, I::PipelinePlaying, play, S::Playing),
            (S::Opening, I::PipelinePaused, pause, S::Paused),
            (S::Opening, I::BufferingLow, play, S::Prebuffering),
            (S::Prebuffering, I::PipelinePaused, play, S::Prebuffering),
            (S::Prebuffering, I::BufferingDone, play, S::Prebuffering),
            (S::Prebuffering, I::PipelinePlaying, play, S::Playing),
            (S::Prebuffering, I::BufferingDone, pause, S::Paused),
            (S::Prebuffering, I::SeekStarted, play, S::Seeking),
            (S::Playing, I::UserPause, pause, S::Paused),
            (S::Playing, I::PipelinePaused, pause, S::Paused),
            (S::Playing, I::PipelinePaused, play, S::Playing),
            (S::Paused, I::UserPlay, play, S::Paused),
            (S::Paused, I::PipelinePlaying, play, S::Playing),
            (S::Playing, I::BufferingLow, play, S::Stalled),
            (S::Stalled, I::PipelinePaused, play, S::Stalled),
            (S::Stalled, I::BufferingDone, play, S::Playing),
            (S::Stalled, I::UserPause, pause, S::Paused),
            (S::Paused, I::BufferingLow, pause, S::Paused),
            (S::Playing, I::SeekStarted, play, S::Seeking),
            (S::Seeking, I::PipelinePaused, play, S::Seeking),
            (S::Seeking, I::PipelinePlaying, pause, S::Seeking),
            (S::Seeking, I::SeekDone, play, S::Playing),
            (S::Seeking, I::SeekDone, pause, S::Paused),
            (S::Playing, I::SeekDone, play, S::Playing),
            (S::Playing, I::EndOfStream, play, S::Ended),
            (S::Ended, I::PipelinePlaying, play, S::Ended),
            (S::Ended, I::SeekStarted, play, S::Seeking),
            (S::Playing, I::Failed, play, S::Error),
            (S::Error, I::PipelinePlaying, play, S::Error),
            (S::Error, I::SeekStarted, play, S::Error),
        ];
        for (from, input, intent, to) in table {
            assert_eq!(
                from.next(input, intent),
                to,
                "{from:?} + {input:?} ({intent:?})"
            );
        }
    }
}
