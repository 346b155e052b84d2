//! A configuration error names the variable, the bad item and what is expected.
use std::fmt;

/// Exit status for every configuration error.
pub const EXIT_CONFIG: i32 = 2;

/// One rejected configuration item; printed as a single line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable that holds the bad item.
    pub var: &'static str,
    /// The offending text (a list item, or the whole value).
    pub item: String,
    /// What would have been accepted, phrased to follow "expected".
    pub expected: String,
}

impl ConfigError {
    /// Shorthand used by the parsers.
    pub fn new(var: &'static str, item: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError {
            var,
            item: item.into(),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug quoting escapes newlines and quotes, so the message stays on one line
        // whatever the environment contained.
        write!(
            f,
            "{}: {:?}: expected {}",
            self.var, self.item, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_variable_item_and_expectation() {
        let e = ConfigError::new(
            "OPENSHIFT_HA_VIRTUAL_IPS",
            "192.0.2.5-3",
            "an ascending range such as 192.0.2.1-5",
        );
        assert_eq!(
            e.to_string(),
            "OPENSHIFT_HA_VIRTUAL_IPS: \"192.0.2.5-3\": expected an ascending range such as 192.0.2.1-5"
        );
    }

    #[test]
    fn display_escapes_newlines() {
        let e = ConfigError::new("OPENSHIFT_HA_PREEMPTION", "a\nb", "x");
        assert!(!e.to_string().contains('\n'));
    }
}
