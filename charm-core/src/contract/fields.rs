//! Per-field rules: the building blocks a [`BagCodec`](super::BagCodec) is written with.
//!
//! Both halves collect errors instead of returning at the first one, so that a contract written
//! as a straight list of field calls reports every invalid field.

use super::{Bag, FieldError, ValidationErrors};

const FIELD_REQUIRED: &str = "field required";

/// Builds a bag field by field, collecting the errors of invalid fields.
#[derive(Debug, Default)]
pub struct BagEncoder {
    bag: Bag,
    errors: Vec<FieldError>,
}

impl BagEncoder {
    /// An empty bag, no errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A field that must have a value; empty is an error.
    pub fn required(&mut self, key: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            self.error(key, FIELD_REQUIRED, None);
        }
        self.text(key, value)
    }

    /// A text field; an empty value is an absent key, as in Juju.
    pub fn text(&mut self, key: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.bag.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    /// An optional text field: `None` (or empty) is an absent key.
    pub fn optional(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        self.text(key, value.unwrap_or_default())
    }

    /// A list joined by `separator`; the empty list is an absent key. An item that is empty or
    /// contains the separator could not be read back as it was, so it is an error.
    pub fn list<I, S>(&mut self, key: &str, items: I, separator: char) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for (i, item) in items.into_iter().enumerate() {
            let item = item.as_ref();
            if item.is_empty() {
                self.error(key, "list items cannot be empty", None);
            } else if item.contains(separator) {
                let message = format!("item contains the separator {separator:?}");
                self.error(key, message, Some(item));
            }
            if i > 0 {
                joined.push(separator);
            }
            joined.push_str(item);
        }
        self.text(key, &joined)
    }

    /// Records an error found by the contract's own checks.
    pub fn error(&mut self, key: &str, message: impl Into<String>, value: Option<&str>) {
        self.push(FieldError::new(key, message, value));
    }

    /// Records an error a contract's check function returned.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// The bag, or every error recorded.
    pub fn finish(self) -> Result<Bag, ValidationErrors> {
        match ValidationErrors::from_errors(self.errors) {
            Some(errors) => Err(errors),
            None => Ok(self.bag),
        }
    }
}

/// Reads a bag field by field, collecting the errors of invalid fields.
///
/// Accessors return `None` for an absent or invalid field; once [`finish`](Self::finish) has
/// returned `Ok`, every required field read is known to be `Some`.
#[derive(Debug)]
pub struct BagDecoder<'a> {
    bag: &'a Bag,
    errors: Vec<FieldError>,
}

impl<'a> BagDecoder<'a> {
    /// Starts decoding `bag` (the other side's, as [`crate::contract::decode_remote`] hands it
    /// over).
    pub fn new(bag: &'a Bag) -> Self {
        BagDecoder {
            bag,
            errors: Vec::new(),
        }
    }

    /// The value of `key`; absent and empty are the same (an empty value deletes a key in Juju).
    pub fn optional(&self, key: &str) -> Option<&'a str> {
        self.bag
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// The value of `key`, recording `field required` when it is absent.
    pub fn required(&mut self, key: &str) -> Option<&'a str> {
        let value = self.optional(key);
        if value.is_none() {
            self.error(key, FIELD_REQUIRED, None);
        }
        value
    }

    /// The items of a list joined by `separator`, as written (empty when the key is absent).
    pub fn list(&self, key: &str, separator: char) -> Vec<&'a str> {
        self.optional(key)
            .map(|value| value.split(separator).collect())
            .unwrap_or_default()
    }

    /// A required field parsed by `parse`; its error message is recorded with the value.
    pub fn required_with<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.required(key)?;
        self.check(key, value, parse)
    }

    /// An optional field parsed by `parse`; `None` when absent or invalid (the latter recorded).
    pub fn optional_with<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.optional(key)?;
        self.check(key, value, parse)
    }

    fn check<T>(
        &mut self,
        key: &str,
        value: &'a str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Option<T> {
        parse(value)
            .map_err(|message| self.error(key, message, Some(value)))
            .ok()
    }

    /// Records an error found by the contract's own checks.
    pub fn error(&mut self, key: &str, message: impl Into<String>, value: Option<&str>) {
        self.push(FieldError::new(key, message, value));
    }

    /// Records an error a contract's check function returned.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// `Ok` when no error was recorded.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        match ValidationErrors::from_errors(self.errors) {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(pairs: &[(&str, &str)]) -> Bag {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn encoder_skips_empty_values() {
        let mut encoder = BagEncoder::new();
        encoder
            .text("a", "")
            .optional("b", None)
            .optional("c", Some(""))
            .list("d", Vec::<String>::new(), ',')
            .text("e", "x");
        assert_eq!(encoder.finish().unwrap(), bag(&[("e", "x")]));
    }

    #[test]
    fn encoder_list_rejects_items_it_could_not_read_back() {
        let mut encoder = BagEncoder::new();
        encoder.list("l", ["a", "", "b;c"], ';').required("r", "");
        let errors = encoder.finish().unwrap_err();
        assert_eq!(
            errors.errors(),
            [
                FieldError::new("l", "list items cannot be empty", None),
                FieldError::new("l", "item contains the separator ';'", Some("b;c")),
                FieldError::new("r", "field required", None),
            ]
        );
    }

    #[test]
    fn decoder_parses_and_collects_every_error() {
        let bag = bag(&[("n", "x1"), ("m", "7"), ("l", "a,,b"), ("e", "")]);
        let mut decoder = BagDecoder::new(&bag);
        let n = decoder.required_with("n", |v| v.parse::<u8>().map_err(|e| e.to_string()));
        let m = decoder.optional_with("m", |v| v.parse::<u8>().map_err(|e| e.to_string()));
        let absent = decoder.optional_with("e", |v| Ok(v.len()));
        let missing = decoder.required("missing");
        assert_eq!(decoder.list("l", ','), ["a", "", "b"]);
        assert_eq!(decoder.list("e", ','), Vec::<&str>::new());
        assert_eq!((n, m, absent, missing), (None, Some(7), None, None));
        assert_eq!(
            decoder.finish().unwrap_err().errors(),
            [
                FieldError::new("n", "invalid digit found in string", Some("x1")),
                FieldError::new("missing", "field required", None),
            ]
        );
    }
}
