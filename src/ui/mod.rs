//! Windows and widgets.
