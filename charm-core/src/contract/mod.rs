//! Typed relation contracts: messages mapped to Juju data bags and back.
//!
//! A Juju data bag is a flat `string -> string` map. Every relation interface we speak describes
//! the content of one side's bag as a message (the `proto` crate holds them), and a contract says
//! how that message is spelled in the bag: which key holds which field, how a list is joined,
//! that an absent optional field is an absent key. This module is the generic half of that:
//!
//! - [`Bag`], the plain data bag, so that contracts are pure functions testable without a model;
//! - [`BagCodec`], implemented per message: `to_bag` validates and encodes, `from_bag` decodes and
//!   validates, and both report **every** invalid field at once ([`ValidationErrors`]), each with
//!   the field's bag key ([`FieldError::key`]) so a charm can name it in its status;
//! - [`BagEncoder`] and [`BagDecoder`], the per-field rules an implementation is written with;
//! - [`BagChanges`], the writes that turn the bag as it is into the bag as it should be (nothing
//!   when they are equal, deletions for keys that are no longer present);
//! - [`decode_remote`], the read rule for the other side's bag: empty means "not written yet",
//!   which is not an error;
//! - on the [`Model`](crate::Model): [`publish`] (requirer/provider side: leader only, no write
//!   when unchanged, stale keys deleted, nothing written when invalid) and [`read_remote`]
//!   (the other side's message, or a [`RemoteError`] that maps to a Waiting or Blocked status).
//!
//! # Choices
//! - An empty value and an absent key are the same thing, as in Juju (`relation-set key=`
//!   deletes the key): encoders never emit empty values and decoders treat them as absent.
//! - Validation does not stop at the first bad field: a user fixing a configuration wants to see
//!   every mistake at once. Within one field, the contract decides (the `backup` interface stops at
//!   the first bad path, as the Python library it must stay compatible with does).
//! - Keys not described by a contract are ignored when decoding, so that a newer peer can add
//!   keys without breaking an older one.
//! - A message is encoded only through [`BagCodec::to_bag`], which validates first: an invalid
//!   message can never reach a bag, so the other side never sees half of a bad configuration.
//! - No derive macro: a contract is a handful of lines of [`BagEncoder`]/[`BagDecoder`] calls,
//!   which keeps compatibility quirks of existing interfaces (normalisation, exact error strings)
//!   expressible where a derive would need an escape hatch for each of them.

mod changes;
mod error;
mod fields;
mod relation;

pub use changes::BagChanges;
pub use error::{FieldError, ValidationErrors};
pub use fields::{BagDecoder, BagEncoder};
pub use relation::{PublishError, Published, RemoteError, publish, publish_all, read_remote};

use std::collections::BTreeMap;

/// The content of one data bag: one unit's or one application's side of a relation. (The
/// crate-root [`crate::Bag`] is something else: it names *which* bag of a relation; write this
/// one `contract::Bag` where both are in scope.)
pub type Bag = BTreeMap<String, String>;

/// A message that has a fixed encoding into a data bag.
///
/// Implementations must round-trip: `T::from_bag(&t.to_bag()?)` is `t`, up to the normalisation
/// the contract applies (e.g. `/var/backups/` becomes `/var/backups`).
pub trait BagCodec: Sized {
    /// Validates the message and encodes it. The bag holds only non-empty values.
    fn to_bag(&self) -> Result<Bag, ValidationErrors>;

    /// Decodes and validates a bag written by the other side (or by an older version of us).
    fn from_bag(bag: &Bag) -> Result<Self, ValidationErrors>;
}

/// Reads the other side's bag: `Ok(None)` while it has written nothing yet, the message once it
/// has, and every field error when what it wrote is invalid.
///
/// Charms typically turn `Ok(None)` into a Waiting status and `Err` into a Blocked one naming the
/// keys ([`ValidationErrors::keys`]).
pub fn decode_remote<T: BagCodec>(bag: &Bag) -> Result<Option<T>, ValidationErrors> {
    if bag.values().all(|value| value.is_empty()) {
        return Ok(None);
    }
    T::from_bag(bag).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny contract exercising every rule: a required text, an optional text, a list.
    #[derive(Debug, PartialEq)]
    struct Greeting {
        name: String,
        title: Option<String>,
        languages: Vec<String>,
    }

    impl BagCodec for Greeting {
        fn to_bag(&self) -> Result<Bag, ValidationErrors> {
            let mut bag = BagEncoder::new();
            if self.name.is_empty() {
                bag.error("name", "name cannot be empty", None);
            }
            bag.text("name", &self.name);
            bag.optional("title", self.title.as_deref());
            bag.list("languages", &self.languages, ',');
            bag.finish()
        }

        fn from_bag(bag: &Bag) -> Result<Self, ValidationErrors> {
            let mut fields = BagDecoder::new(bag);
            let name = fields.required("name");
            let title = fields.optional("title");
            let languages = fields.list("languages", ',');
            fields.finish()?;
            Ok(Greeting {
                name: name.unwrap_or_default().to_owned(),
                title: title.map(str::to_owned),
                languages: languages.into_iter().map(str::to_owned).collect(),
            })
        }
    }

    fn bag(pairs: &[(&str, &str)]) -> Bag {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn round_trip() {
        let greeting = Greeting {
            name: "juju".into(),
            title: Some("Dr".into()),
            languages: vec!["en".into(), "fr".into()],
        };
        let encoded = greeting.to_bag().unwrap();
        assert_eq!(
            encoded,
            bag(&[("name", "juju"), ("title", "Dr"), ("languages", "en,fr")])
        );
        assert_eq!(Greeting::from_bag(&encoded).unwrap(), greeting);
    }

    #[test]
    fn absent_optional_and_empty_list_are_absent_keys() {
        let greeting = Greeting {
            name: "juju".into(),
            title: None,
            languages: vec![],
        };
        assert_eq!(greeting.to_bag().unwrap(), bag(&[("name", "juju")]));
        assert_eq!(
            Greeting::from_bag(&bag(&[("name", "juju"), ("title", "")])).unwrap(),
            greeting
        );
    }

    #[test]
    fn encoding_reports_every_error() {
        let greeting = Greeting {
            name: String::new(),
            title: None,
            languages: vec!["en,gb".into()],
        };
        let errors = greeting.to_bag().unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["name", "languages"]);
        assert_eq!(
            errors.to_string(),
            "name: name cannot be empty; languages: item contains the separator ',' (got \"en,gb\")"
        );
    }

    #[test]
    fn decoding_names_the_missing_key() {
        let errors = Greeting::from_bag(&bag(&[("title", "Dr")])).unwrap_err();
        assert_eq!(
            errors.errors(),
            [FieldError::new("name", "field required", None)]
        );
    }

    #[test]
    fn remote_bag_not_written_yet() {
        assert_eq!(decode_remote::<Greeting>(&Bag::new()), Ok(None));
        assert_eq!(decode_remote::<Greeting>(&bag(&[("name", "")])), Ok(None));
        assert!(decode_remote::<Greeting>(&bag(&[("title", "Dr")])).is_err());
        assert_eq!(
            decode_remote::<Greeting>(&bag(&[("name", "juju")])),
            Ok(Some(Greeting {
                name: "juju".into(),
                title: None,
                languages: vec![],
            }))
        );
    }
}
