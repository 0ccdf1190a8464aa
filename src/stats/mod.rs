//! Playback statistics: the recorder of a session's events and once-a-second
//! samples, its export (JSON, CSV) and the charts drawn from it. GTK-free
//! except `chart_widget`.

pub mod chart;
pub mod chart_widget;
pub mod export;
pub mod recorder;
pub mod schema;
pub mod stall;
