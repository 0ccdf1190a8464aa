//! Playhead times as people read them.

/// `m:ss` below an hour, `h:mm:ss` from then on.
pub fn format_clock(time: gst::ClockTime) -> String {
    let total = time.seconds();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_clock;
    use gst::ClockTime;

    #[test]
    fn clock_shows_hours_only_when_needed() {
        assert_eq!(format_clock(ClockTime::ZERO), "0:00");
        assert_eq!(format_clock(ClockTime::from_mseconds(9_999)), "0:09");
        assert_eq!(format_clock(ClockTime::from_seconds(600)), "10:00");
        assert_eq!(format_clock(ClockTime::from_seconds(3_725)), "1:02:05");
    }
}
