//! A configuration error names the variable, the bad item and what is expected.

/// Exit status for every configuration error.
pub const EXIT_CONFIG: i32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub item: String,
    pub expected: String,
}
