//! Validation errors that name the bag key of every invalid field.

use std::fmt;

/// One invalid field of a bag or of a message about to be written to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's bag key (`fileset`, `run-before-backup`), also when the error was found in a
    /// message before encoding, so that a charm names what the user configures.
    pub key: String,
    /// What is wrong, without the key (contracts may need exact strings for compatibility).
    pub message: String,
    /// The offending value (a whole bag value or one list item), when there is one.
    pub value: Option<String>,
}

impl FieldError {
    /// An error for the field at `key`; `value` is the offending text, quoted in the message.
    pub fn new(key: impl Into<String>, message: impl Into<String>, value: Option<&str>) -> Self {
        FieldError {
            key: key.into(),
            message: message.into(),
            value: value.map(str::to_owned),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)?;
        if let Some(value) = &self.value {
            write!(f, " (got {value:?})")?;
        }
        Ok(())
    }
}

/// Every invalid field found, in field order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// `None` when there is nothing to report.
    pub fn from_errors(errors: Vec<FieldError>) -> Option<Self> {
        (!errors.is_empty()).then_some(ValidationErrors { errors })
    }

    /// Every field error, in field order.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The keys of the invalid fields, each once, in field order: what a status message names
    /// (e.g. `invalid config: fileset`).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let mut seen = Vec::new();
        self.errors.iter().filter_map(move |error| {
            let key = error.key.as_str();
            (!seen.contains(&key)).then(|| {
                seen.push(key);
                key
            })
        })
    }

    /// The error recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&FieldError> {
        self.errors.iter().find(|error| error.key == key)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_report_is_not_an_error() {
        assert_eq!(ValidationErrors::from_errors(vec![]), None);
    }

    #[test]
    fn keys_are_listed_once_in_order() {
        let errors = ValidationErrors::from_errors(vec![
            FieldError::new("b", "one", None),
            FieldError::new("a", "two", Some("x")),
            FieldError::new("b", "three", None),
        ])
        .unwrap();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(errors.get("a").map(|e| e.message.as_str()), Some("two"));
        assert_eq!(errors.to_string(), "b: one; a: two (got \"x\"); b: three");
    }
}
