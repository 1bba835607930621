//! Secret operations on the model.
//!
//! Reads are cached per secret and revision mode for the hook; managing an
//! application-owned secret requires leadership, checked before any tool runs.

use std::collections::BTreeMap;

use super::{Model, ModelError};
use crate::backend::BackendError;
use crate::secret::{SecretGet, SecretInfo, SecretOwner, SecretSpec, validate_content};

impl Model {
    fn secret_error(id: &str, e: BackendError) -> ModelError {
        match e {
            BackendError::SecretNotFound { stderr, .. } => {
                ModelError::Backend(BackendError::SecretNotFound {
                    secret: id.to_string(),
                    stderr,
                })
            }
            other => ModelError::Backend(other),
        }
    }

    /// Creates a secret (`secret-add`) and returns its id. Application-owned secrets need
    /// leadership.
    pub fn add_secret(&self, spec: &SecretSpec) -> Result<String, ModelError> {
        validate_content(&spec.content).map_err(ModelError::Secret)?;
        if spec.content.is_empty() {
            return Err(ModelError::Secret("a secret needs content".into()));
        }
        if spec.owner == SecretOwner::Application {
            self.require_leader("add an application-owned secret")?;
        }
        Ok(self.with_backend(|b| b.secret_add(spec))?)
    }

    /// The content of the secret with `id` (`secret-get`), once per hook and mode.
    pub fn secret(
        &self,
        id: &str,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, ModelError> {
        self.secret_lookup(Some(id), None, mode)
    }

    /// The content of the secret with `label` (a label this unit or application gave it).
    pub fn secret_by_label(
        &self,
        label: &str,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, ModelError> {
        self.secret_lookup(None, Some(label), mode)
    }

    fn secret_lookup(
        &self,
        id: Option<&str>,
        label: Option<&str>,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, ModelError> {
        let key = match (id, label) {
            (Some(id), _) => id.to_string(),
            (None, Some(label)) => format!("label:{label}"),
            (None, None) => return Err(ModelError::Secret("need a secret id or label".into())),
        };
        if let Some(c) = self.cache.borrow().secrets.get(&(key.clone(), mode)) {
            return Ok(c.clone());
        }
        let content = self
            .with_backend(|b| b.secret_get(id, label, mode))
            .map_err(|e| Self::secret_error(&key, e))?;
        self.cache
            .borrow_mut()
            .secrets
            .insert((key, mode), content.clone());
        Ok(content)
    }

    /// The metadata of a secret this charm owns (`secret-info-get`).
    pub fn secret_info(&self, id: &str) -> Result<SecretInfo, ModelError> {
        self.with_backend(|b| b.secret_info_get(Some(id), None))
            .map_err(|e| Self::secret_error(id, e))
    }

    /// Updates a secret this charm owns (`secret-set`): new content makes a new revision.
    pub fn set_secret(&self, id: &str, spec: &SecretSpec) -> Result<(), ModelError> {
        validate_content(&spec.content).map_err(ModelError::Secret)?;
        self.with_backend(|b| b.secret_set(id, spec))
            .map_err(|e| Self::secret_error(id, e))?;
        self.cache
            .borrow_mut()
            .secrets
            .retain(|(k, _), _| k.as_str() != id);
        Ok(())
    }

    /// Lets the remote side of `relation` (or just `unit`) read a secret (`secret-grant`).
    pub fn grant_secret(
        &self,
        id: &str,
        relation: &super::Relation<'_>,
        unit: Option<&str>,
    ) -> Result<(), ModelError> {
        self.with_backend(|b| b.secret_grant(id, relation.id(), unit))
            .map_err(|e| Self::secret_error(id, e))
    }

    /// Takes back a grant (`secret-revoke`).
    pub fn revoke_secret(
        &self,
        id: &str,
        relation: &super::Relation<'_>,
        unit: Option<&str>,
    ) -> Result<(), ModelError> {
        self.with_backend(|b| b.secret_revoke(id, relation.id(), unit))
            .map_err(|e| Self::secret_error(id, e))
    }

    /// Removes a secret, or one revision of it (`secret-remove`).
    pub fn remove_secret(&self, id: &str, revision: Option<u64>) -> Result<(), ModelError> {
        self.with_backend(|b| b.secret_remove(id, revision))
            .map_err(|e| Self::secret_error(id, e))?;
        self.cache
            .borrow_mut()
            .secrets
            .retain(|(k, _), _| k.as_str() != id);
        Ok(())
    }
}
