//! (being written)
pub struct Settings;
