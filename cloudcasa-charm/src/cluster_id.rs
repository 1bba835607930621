//! The `clusterid` option: the identifier the CloudCasa console gives a registered cluster.

use std::fmt;

/// Longest identifier accepted. CloudCasa's identifiers are a few dozen characters; anything
/// much longer is a paste gone wrong (a whole command line, a token), not an identifier.
pub const MAX_LEN: usize = 128;

/// A cluster identifier that is safe to hand to the agent: ASCII letters and digits only,
/// between 1 and [`MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterId(String);

/// Why a `clusterid` value cannot be used. The `Display` text names the problem and the bad
/// value so that it can go straight into a Blocked status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterIdError {
    /// The option is unset (or only whitespace): the usual state right after deployment.
    #[error("clusterid is not set")]
    Empty,
    /// Longer than [`MAX_LEN`].
    #[error("clusterid is {len} characters long, at most {MAX_LEN} are allowed")]
    TooLong {
        /// Length of the value, in characters.
        len: usize,
    },
    /// Contains something other than an ASCII letter or digit.
    #[error(
        "clusterid {value:?} contains {found:?} at position {position}: only letters and digits are allowed"
    )]
    BadCharacter {
        /// The value as given (trimmed).
        value: String,
        /// The first offending character.
        found: char,
        /// Its position, counted in characters from 1.
        position: usize,
    },
}

impl ClusterId {
    /// Validates a `clusterid` option value.
    ///
    /// Surrounding whitespace is ignored: values pasted from the console often carry a trailing
    /// newline, and no identifier contains whitespace, so trimming cannot change its meaning.
    pub fn parse(value: &str) -> Result<Self, ClusterIdError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ClusterIdError::Empty);
        }
        let len = value.chars().count();
        if len > MAX_LEN {
            return Err(ClusterIdError::TooLong { len });
        }
        if let Some((index, found)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_alphanumeric())
        {
            return Err(ClusterIdError::BadCharacter {
                value: value.to_owned(),
                found,
                position: index + 1,
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The identifier, as the agent receives it in `AMDS_CLUSTER_ID`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ClusterId {
    type Err = ClusterIdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_and_digits() {
        let id = ClusterId::parse("5f8d0d55b54764421b7156c9").unwrap();
        assert_eq!(id.as_str(), "5f8d0d55b54764421b7156c9");
        assert_eq!(ClusterId::parse("A").unwrap().as_str(), "A");
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(ClusterId::parse("  abc123\n").unwrap().as_str(), "abc123");
    }

    #[test]
    fn empty_and_blank_are_unset() {
        assert_eq!(ClusterId::parse(""), Err(ClusterIdError::Empty));
        assert_eq!(ClusterId::parse(" \t\n"), Err(ClusterIdError::Empty));
    }

    #[test]
    fn rejects_other_characters_naming_the_first() {
        let err = ClusterId::parse("abc-123").unwrap_err();
        assert_eq!(
            err,
            ClusterIdError::BadCharacter {
                value: "abc-123".into(),
                found: '-',
                position: 4
            }
        );
        assert_eq!(
            err.to_string(),
            r#"clusterid "abc-123" contains '-' at position 4: only letters and digits are allowed"#
        );
        // Inner whitespace and non-ASCII letters are not identifiers either.
        assert!(matches!(
            ClusterId::parse("abc 123"),
            Err(ClusterIdError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            ClusterId::parse("abcé"),
            Err(ClusterIdError::BadCharacter {
                found: 'é',
                position: 4,
                ..
            })
        ));
    }

    #[test]
    fn length_is_bounded() {
        assert!(ClusterId::parse(&"a".repeat(MAX_LEN)).is_ok());
        let err = ClusterId::parse(&"a".repeat(MAX_LEN + 1)).unwrap_err();
        assert_eq!(err, ClusterIdError::TooLong { len: MAX_LEN + 1 });
        assert_eq!(
            err.to_string(),
            "clusterid is 129 characters long, at most 128 are allowed"
        );
    }
}
