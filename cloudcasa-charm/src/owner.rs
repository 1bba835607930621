//! Which Juju application owns the agent's objects, written on them as labels.
//!
//! The keys are the ones Juju itself uses (`juju/juju`, `internal/provider/kubernetes/constants`):
//! `app.kubernetes.io/managed-by: juju` on everything Juju manages, `model.juju.is/name` for the
//! model, and `app.juju.is/created-by` for objects an application created (Juju's model admission
//! webhook stamps that same label on objects a charm creates in its own namespace). We do not
//! use `app.kubernetes.io/name`: Juju selects the application's own pods with it.
//!
//! The agent's objects are cluster-wide singletons (fixed names), so the labels also let the
//! charm notice when another CloudCasa application already owns them.

use std::collections::BTreeMap;
use std::fmt;

/// `app.kubernetes.io/managed-by`
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `model.juju.is/name`
pub const MODEL: &str = "model.juju.is/name";
/// `app.juju.is/created-by`
pub const CREATED_BY: &str = "app.juju.is/created-by";

/// The Juju model and application that own the objects. Both names are valid label values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    model: String,
    application: String,
}

/// A model or application name that cannot be a Kubernetes label value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {value:?} cannot be a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
)]
pub struct OwnerError {
    /// `"model name"` or `"application name"`.
    pub what: &'static str,
    /// The rejected value.
    pub value: String,
}

impl Owner {
    /// The owner for the Juju model (`JUJU_MODEL_NAME`) and application (the unit name's
    /// part before `/`). Juju's own naming rules make both valid; this checks anyway because
    /// the API server would reject the whole object otherwise.
    pub fn new(model: &str, application: &str) -> Result<Self, OwnerError> {
        Ok(Self {
            model: label_value("model name", model)?,
            application: label_value("application name", application)?,
        })
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The application name.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The labels that say who owns an object.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_owned(), "juju".to_owned()),
            (MODEL.to_owned(), self.model.clone()),
            (CREATED_BY.to_owned(), self.application.clone()),
        ])
    }

    /// Reads the owner back from an object's labels: `None` if the object carries no Juju
    /// ownership labels (created by hand, by Helm, or by the original Python charm).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Self> {
        if labels.get(MANAGED_BY).map(String::as_str) != Some("juju") {
            return None;
        }
        Some(Self {
            model: labels.get(MODEL)?.clone(),
            application: labels.get(CREATED_BY)?.clone(),
        })
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "application {} in model {}",
            self.application, self.model
        )
    }
}

fn label_value(what: &'static str, value: &str) -> Result<String, OwnerError> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(value.to_owned())
    } else {
        Err(OwnerError {
            what,
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        let owner = Owner::new("backups", "cloudcasa").unwrap();
        let labels = owner.labels();
        assert_eq!(labels[MANAGED_BY], "juju");
        assert_eq!(labels[MODEL], "backups");
        assert_eq!(labels[CREATED_BY], "cloudcasa");
        assert_eq!(Owner::from_labels(&labels), Some(owner.clone()));
        assert_eq!(owner.to_string(), "application cloudcasa in model backups");
    }

    #[test]
    fn objects_without_juju_labels_have_no_owner() {
        let python_charm =
            BTreeMap::from([("component".to_owned(), "kubeagent-backup-helper".to_owned())]);
        assert_eq!(Owner::from_labels(&python_charm), None);
        let mut helm = Owner::new("m", "a").unwrap().labels();
        helm.insert(MANAGED_BY.into(), "Helm".into());
        assert_eq!(Owner::from_labels(&helm), None);
    }

    #[test]
    fn rejects_names_that_are_not_label_values() {
        for (model, app, what, value) in [
            ("", "cloudcasa", "model name", ""),
            ("my model", "cloudcasa", "model name", "my model"),
            ("m", "-cloudcasa", "application name", "-cloudcasa"),
            ("m", &"a".repeat(64), "application name", &"a".repeat(64)),
        ] {
            let err = Owner::new(model, app).unwrap_err();
            assert_eq!(err.what, what);
            assert_eq!(err.value, value);
        }
        assert!(Owner::new(&"m".repeat(63), "cloudcasa-k8s").is_ok());
    }
}
