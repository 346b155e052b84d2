//! One line per event on stderr, keepalived's format.
