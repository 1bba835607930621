//! The ids Pebble puts in URL paths (changes, notices), checked before use.
//!
//! The lowest module of the client: the client's error type names a [`ChangeId`], so the ids
//! do not depend on it. A bad id is an [`InvalidId`], which `?` turns into the client's
//! `Error::InvalidArgument`.

/// An id that is not lowercase letters and digits, refused before it reaches a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} ID {id:?}")]
pub struct InvalidId {
    /// What kind of id it was meant to be (`change`, `notice`).
    pub what: &'static str,
    /// The refused text.
    pub id: String,
}

/// Declares an id type: lowercase letters and digits, checked as Pebble's client checks them,
/// on construction and on deserialisation.
macro_rules! url_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps an id.
            pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
                let id = id.into();
                if id.is_empty()
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                {
                    return Err(InvalidId { what: $what, id });
                }
                Ok(Self(id))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

url_id!(
    /// A change id: lowercase letters and digits, as Pebble's client checks before putting it in
    /// a URL.
    ChangeId,
    "change"
);

url_id!(
    /// A notice id (digits today; letters allowed for the future, as in Pebble's client).
    NoticeId,
    "notice"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_use_in_urls() {
        assert!(ChangeId::new("42").is_ok());
        assert!(NoticeId::new("7a").is_ok());
        for bad in ["", "../x", "4 2", "A1"] {
            let err = ChangeId::new(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid change ID {bad:?}"));
            let err = NoticeId::new(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid notice ID {bad:?}"));
        }
        assert!(serde_json::from_str::<ChangeId>("\"a/b\"").is_err());
    }
}
