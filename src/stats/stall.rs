//! The stall detector: pure, fed position samples and the playback intent,
//! so every rule has a table test.
//!
//! A stall: after playback started, the position does not advance for more
//! than [`STALL_THRESHOLD_S`] while playback should run. The stall is dated
//! from the last advance (when the picture froze), not from the moment it
//! was noticed, so its length is the time the viewer saw no progress.

/// How long the position may stand still while playing before it counts as
/// a stall, in seconds. Shorter gaps are sample jitter, not a visible hitch.
pub const STALL_THRESHOLD_S: f64 = 0.2;

/// What one position sample changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StallTransition {
    /// The position advanced for the first time, at `at_s`.
    PlaybackStarted { at_s: f64 },
    /// The position stopped advancing at `at_s` and has not moved for more
    /// than the threshold since.
    StallStarted { at_s: f64 },
    /// The stall that began at `started_s` ended at `at_s`: the position
    /// advanced again, or playback no longer should run (pause, seek, end).
    StallEnded { started_s: f64, at_s: f64 },
}

#[derive(Clone, Debug, Default)]
pub struct StallDetector {
    last_position_s: Option<f64>,
    /// When the position last advanced, or when playback last resumed: a
    /// pause is not a stall, so the clock restarts after it.
    last_progress_s: Option<f64>,
    started: bool,
    stalled_since_s: Option<f64>,
}

impl StallDetector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled_since_s.is_some()
    }

    /// Feeds one sample taken at `now_s`: the playhead `position_s` and
    /// whether playback `should_run` (the user wants play, no seek is in
    /// flight, the stream has not ended). Times must not go backwards.
    pub fn observe(
        &mut self,
        now_s: f64,
        position_s: f64,
        should_run: bool,
    ) -> Option<StallTransition> {
        let advanced = self.last_position_s.is_some_and(|last| position_s != last);
        self.last_position_s = Some(position_s);
        if advanced && should_run {
            self.last_progress_s = Some(now_s);
            if !self.started {
                self.started = true;
                return Some(StallTransition::PlaybackStarted { at_s: now_s });
            }
            return self.end_stall(now_s);
        }
        if !should_run {
            self.last_progress_s = Some(now_s);
            return self.end_stall(now_s);
        }
        let since = *self.last_progress_s.get_or_insert(now_s);
        if self.started && self.stalled_since_s.is_none() && now_s - since > STALL_THRESHOLD_S {
            self.stalled_since_s = Some(since);
            return Some(StallTransition::StallStarted { at_s: since });
        }
        None
    }

    /// Closes an open stall when the session ends.
    pub fn finish(&mut self, now_s: f64) -> Option<StallTransition> {
        self.end_stall(now_s)
    }

    fn end_stall(&mut self, now_s: f64) -> Option<StallTransition> {
        self.stalled_since_s
            .take()
            .map(|started_s| StallTransition::StallEnded {
                started_s,
                at_s: now_s,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{StallDetector, StallTransition as T};

    /// One sample: time, position, whether playback should run.
    type Observation = (f64, f64, bool);

    /// Runs `samples` (time, position, should_run) through a fresh detector
    /// and returns every transition it reported.
    fn transitions(samples: &[Observation]) -> Vec<T> {
        let mut detector = StallDetector::new();
        samples
            .iter()
            .filter_map(|&(now, position, run)| detector.observe(now, position, run))
            .collect()
    }

    #[test]
    fn stall_detector_follows_the_table() {
        let started = T::PlaybackStarted { at_s: 0.1 };
        let table: &[(&str, &[Observation], &[T])] = &[
            ("nothing before the first frame", &[(0.0, 0.0, true)], &[]),
            (
                "waiting for the first frame is startup, not a stall",
                &[(0.0, 0.0, true), (1.0, 0.0, true), (2.0, 0.0, true)],
                &[],
            ),
            (
                "first advance starts playback",
                &[(0.0, 0.0, true), (0.1, 0.1, true)],
                &[started],
            ),
            (
                "a 0.2 s gap is not a stall",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.3, 0.1, true),
                    (0.4, 0.2, true),
                ],
                &[started],
            ),
            (
                "more than 0.2 s frozen is a stall, dated from the freeze, ended by the next advance",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.2, 0.1, true),
                    (0.35, 0.1, true),
                    (1.5, 0.1, true),
                    (1.6, 0.2, true),
                ],
                &[
                    started,
                    T::StallStarted { at_s: 0.1 },
                    T::StallEnded {
                        started_s: 0.1,
                        at_s: 1.6,
                    },
                ],
            ),
            (
                "a pause is not a stall, and the clock restarts on resume",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.2, 0.1, false),
                    (5.0, 0.1, false),
                    (5.1, 0.1, true),
                    (5.2, 0.2, true),
                ],
                &[started],
            ),
            (
                "pausing during a stall ends it",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.5, 0.1, true),
                    (0.9, 0.1, false),
                ],
                &[
                    started,
                    T::StallStarted { at_s: 0.1 },
                    T::StallEnded {
                        started_s: 0.1,
                        at_s: 0.9,
                    },
                ],
            ),
            (
                "a seek jump while seeking is not an advance",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.2, 30.0, false),
                    (0.3, 30.0, true),
                    (0.4, 30.1, true),
                ],
                &[started],
            ),
            (
                "each stall is reported once",
                &[
                    (0.0, 0.0, true),
                    (0.1, 0.1, true),
                    (0.4, 0.1, true),
                    (0.7, 0.1, true),
                    (1.0, 0.1, true),
                ],
                &[started, T::StallStarted { at_s: 0.1 }],
            ),
        ];
        for (name, samples, expected) in table {
            assert_eq!(&transitions(samples), expected, "{name}");
        }
    }

    #[test]
    fn finish_closes_an_open_stall() {
        let mut detector = StallDetector::new();
        detector.observe(0.0, 0.0, true);
        detector.observe(0.1, 0.1, true);
        assert_eq!(
            detector.observe(1.0, 0.1, true),
            Some(T::StallStarted { at_s: 0.1 })
        );
        assert!(detector.is_stalled());
        assert_eq!(
            detector.finish(2.0),
            Some(T::StallEnded {
                started_s: 0.1,
                at_s: 2.0
            })
        );
        assert_eq!(detector.finish(3.0), None);
    }
}
