//! State a charm keeps between hooks, and deferred events.
//!
//! # Prefer reconciling to remembering
//! Juju can run any hook at any time, skip ones a unit missed while it was down, and retry
//! failed ones. A charm that *derives* what to do from the model on every event (config,
//! relations, leadership, what the workload reports) converges whatever the history was; a
//! charm that remembers "I already did X" or defers "do Y later" must keep that memory correct
//! across all of it. So charm-core's preferred style is reconcile-on-every-event, and stored
//! state is for facts that cannot be observed again (an id returned by an external system, a
//! generated password before it reaches a secret).
//!
//! # Where state lives ([`StateLocation`], chosen per charm with `Charm::STATE`)
//! - [`StateLocation::CharmDir`]: a JSON file in the charm directory, replaced atomically
//!   (write to a temporary file in the same directory, fsync, rename). Free to read and write.
//!   **The charm directory of a Kubernetes charm lives in the charm container, which is
//!   recreated with the pod** (upgrade, eviction, node drain): the file is then gone. Use it on
//!   machines, or for data that is only a cache on Kubernetes.
//! - [`StateLocation::Juju`]: the controller-side unit state (`state-get` / `state-set`),
//!   which survives pod recreation. It costs one `state-get` per hook (the deferred-event
//!   queue is read at the start of every hook) and one `state-set` per hook that changes it.
//!
//! Values are serde types stored as JSON under string keys. Keys starting with `charm-core/`
//! are the framework's: the deferred-event queue and the last unit status set.
//!
//! # Deferral (ops' semantics)
//! A handler may call [`crate::Model::defer`]: the event is saved and, before the next event
//! is handled, re-run (`Re-emitting deferred event <event> (i of n in queue).`); if it defers
//! again it stays queued. An event identical to one already queued is not queued twice.
//! Actions cannot be deferred. Deferral needs a state location that survives (see above).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::Backend;
use crate::event::Event;
use crate::status::Status;

/// The file, in the charm directory, holding [`StateLocation::CharmDir`] state.
pub const STATE_FILE: &str = ".charm-core-state.json";

pub(crate) const DEFERRED_KEY: &str = "charm-core/deferred";
pub(crate) const UNIT_STATUS_KEY: &str = "charm-core/unit-status";
const RESERVED_PREFIX: &str = "charm-core/";

/// Where a charm's stored state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateLocation {
    /// A file in the charm directory (lost when a Kubernetes pod is recreated).
    #[default]
    CharmDir,
    /// Juju's controller-side unit state (`state-get` / `state-set`).
    Juju,
}

/// Stored state that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file exists but cannot be read or is not JSON.
    #[error("cannot read stored state {path}: {reason}")]
    Read {
        /// The state file.
        path: String,
        /// The I/O or JSON error.
        reason: String,
    },
    /// The state file cannot be replaced (disk full, permissions).
    #[error("cannot write stored state {path}: {reason}")]
    Write {
        /// The state file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A key is reserved or invalid, or its value does not (de)serialise as the type asked.
    #[error("stored state key `{key}`: {reason}")]
    Value {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// `state-get`, `state-set` or `state-delete` failed.
    #[error("stored state in Juju: {0}")]
    Juju(#[from] crate::backend::BackendError),
}

#[derive(Debug)]
enum Where {
    File(PathBuf),
    Juju,
    /// The testing harness: nothing is persisted, the harness reads the values back.
    Memory,
}

/// The loaded state of one hook; written back once, at the end of a successful hook, and only
/// if something changed.
#[derive(Debug)]
pub struct StateStore {
    location: Where,
    values: BTreeMap<String, Value>,
    changed: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl StateStore {
    /// Loads the state: reads the file, or runs one `state-get`.
    pub fn load(
        location: StateLocation,
        charm_dir: &Path,
        backend: &mut dyn Backend,
    ) -> Result<StateStore, StateError> {
        let (location, values) = match location {
            StateLocation::CharmDir => {
                let path = charm_dir.join(STATE_FILE);
                let values = match fs::read(&path) {
                    Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Read {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                    Err(e) => {
                        return Err(StateError::Read {
                            path: path.display().to_string(),
                            reason: e.to_string(),
                        });
                    }
                };
                (Where::File(path), values)
            }
            StateLocation::Juju => {
                let raw = backend.state_get()?;
                let mut values = BTreeMap::new();
                for (key, text) in raw {
                    let value = serde_json::from_str(&text).map_err(|e| StateError::Value {
                        key: key.clone(),
                        reason: format!("not JSON: {e}"),
                    })?;
                    values.insert(key, value);
                }
                (Where::Juju, values)
            }
        };
        Ok(StateStore {
            location,
            values,
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
        })
    }

    /// A store over `values` that persists nothing (testing).
    pub fn in_memory(values: BTreeMap<String, Value>) -> StateStore {
        StateStore {
            location: Where::Memory,
            values,
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    fn check_key(key: &str) -> Result<(), StateError> {
        if key.is_empty() || key.starts_with(RESERVED_PREFIX) {
            return Err(StateError::Value {
                key: key.to_string(),
                reason: format!("keys must be non-empty and not start with `{RESERVED_PREFIX}`"),
            });
        }
        Ok(())
    }

    /// The value stored under `key`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| StateError::Value {
                key: key.to_string(),
                reason: format!("does not match the requested type: {e}"),
            }),
        }
    }

    /// Stores `value` under `key` (a charm key: not `charm-core/...`).
    pub fn set<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), StateError> {
        Self::check_key(key)?;
        self.set_internal(key, value)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Result<(), StateError> {
        Self::check_key(key)?;
        self.remove_internal(key);
        Ok(())
    }

    fn set_internal<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), StateError> {
        let value = serde_json::to_value(value).map_err(|e| StateError::Value {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        if self.values.get(key) != Some(&value) {
            self.values.insert(key.to_string(), value);
            self.changed.insert(key.to_string());
            self.removed.remove(key);
        }
        Ok(())
    }

    fn remove_internal(&mut self, key: &str) {
        if self.values.remove(key).is_some() {
            self.changed.remove(key);
            self.removed.insert(key.to_string());
        }
    }

    /// The deferred-event queue.
    pub fn deferred(&self) -> Result<Vec<Event>, StateError> {
        Ok(self.get(DEFERRED_KEY)?.unwrap_or_default())
    }

    pub(crate) fn set_deferred(&mut self, queue: &[Event]) -> Result<(), StateError> {
        if queue.is_empty() {
            self.remove_internal(DEFERRED_KEY);
            Ok(())
        } else {
            self.set_internal(DEFERRED_KEY, &queue)
        }
    }

    /// The unit status charm-core set last (to skip setting it again).
    pub(crate) fn last_unit_status(&self) -> Option<Status> {
        self.get(UNIT_STATUS_KEY).ok().flatten()
    }

    pub(crate) fn set_last_unit_status(&mut self, status: &Status) -> Result<(), StateError> {
        self.set_internal(UNIT_STATUS_KEY, status)
    }

    /// Forgets the unit status set last: Juju has set another one.
    pub(crate) fn forget_last_unit_status(&mut self) {
        self.remove_internal(UNIT_STATUS_KEY);
    }

    /// Every value (the testing harness reads them back).
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// Writes what changed: replaces the file atomically, or one `state-set` (plus a
    /// `state-delete` per removed key).
    pub fn save(&mut self, backend: &mut dyn Backend) -> Result<(), StateError> {
        if self.changed.is_empty() && self.removed.is_empty() {
            return Ok(());
        }
        match &self.location {
            Where::Memory => {}
            Where::File(path) => write_atomically(path, &self.values)?,
            Where::Juju => {
                if !self.changed.is_empty() {
                    let mut out = BTreeMap::new();
                    for key in &self.changed {
                        if let Some(v) = self.values.get(key) {
                            out.insert(key.clone(), v.to_string());
                        }
                    }
                    backend.state_set(&out)?;
                }
                for key in &self.removed {
                    backend.state_delete(key)?;
                }
            }
        }
        self.changed.clear();
        self.removed.clear();
        Ok(())
    }
}

fn write_atomically(path: &Path, values: &BTreeMap<String, Value>) -> Result<(), StateError> {
    let err = |reason: String| StateError::Write {
        path: path.display().to_string(),
        reason,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = serde_json::to_vec(values).map_err(|e| err(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    tmp.write_all(&bytes).map_err(|e| err(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryBackend;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Mine {
        cluster_id: String,
        tries: u32,
    }

    #[test]
    fn charm_dir_state_survives_a_reload_and_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = MemoryBackend::default();
        let mut s = StateStore::load(StateLocation::CharmDir, dir.path(), &mut backend).unwrap();
        assert_eq!(s.get::<Mine>("mine").unwrap(), None);
        let v = Mine {
            cluster_id: "c1".into(),
            tries: 2,
        };
        s.set("mine", &v).unwrap();
        s.set_deferred(&[Event::Install]).unwrap();
        s.save(&mut backend).unwrap();
        let s = StateStore::load(StateLocation::CharmDir, dir.path(), &mut backend).unwrap();
        assert_eq!(s.get::<Mine>("mine").unwrap(), Some(v));
        assert_eq!(s.deferred().unwrap(), vec![Event::Install]);
        // Only the state file: no temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert!(
            backend.calls().is_empty(),
            "no hook tools for charm-dir state"
        );
    }

    #[test]
    fn juju_state_uses_one_get_and_one_set() {
        let mut backend = MemoryBackend::default();
        let dir = Path::new("/nonexistent");
        let mut s = StateStore::load(StateLocation::Juju, dir, &mut backend).unwrap();
        s.set("a", &1).unwrap();
        s.set("b", &"two").unwrap();
        s.save(&mut backend).unwrap();
        let mut s = StateStore::load(StateLocation::Juju, dir, &mut backend).unwrap();
        assert_eq!(s.get::<u32>("a").unwrap(), Some(1));
        s.remove("a").unwrap();
        s.set("b", &"two").unwrap(); // unchanged: not written
        s.save(&mut backend).unwrap();
        assert_eq!(
            backend.calls(),
            vec![
                "state-get --format=json",
                "state-set --file -",
                "state-get --format=json",
                "state-delete a",
            ]
        );
    }

    #[test]
    fn bad_keys_values_and_files_are_reported() {
        let mut s = StateStore::in_memory(BTreeMap::new());
        assert!(s.set("charm-core/deferred", &1).is_err());
        assert!(s.set("", &1).is_err());
        s.set("n", &"text").unwrap();
        let err = s.get::<u32>("n").unwrap_err();
        assert!(err.to_string().contains("`n`"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let err = StateStore::load(
            StateLocation::CharmDir,
            dir.path(),
            &mut MemoryBackend::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(STATE_FILE), "{err}");
    }
}
