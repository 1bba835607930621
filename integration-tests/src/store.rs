//! The state file shared by the driver and every hook-tool process.
//!
//! `model.json` is only read and written while holding an exclusive `flock` on `model.lock`
//! (a separate file, because writes replace `model.json` by rename). A write that fails half
//! way leaves the previous file intact; an operation that returns an error writes nothing.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::state::ModelState;

/// The name of the state file inside a simulator directory.
pub const STATE_FILE: &str = "model.json";
const LOCK_FILE: &str = "model.lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("simulator state {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("simulator state {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Handle on a simulator directory's state.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Writes a fresh state into `dir`.
    pub fn create(dir: &Path, state: &ModelState) -> Result<Store, StoreError> {
        let store = Store {
            dir: dir.to_owned(),
        };
        let _lock = store.lock()?;
        store.write(state)?;
        Ok(store)
    }

    /// Opens the store whose state file is `state_file` (what `JUJU_SIM_STATE` names).
    pub fn open(state_file: &Path) -> Store {
        Store {
            dir: state_file
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
        }
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// A consistent snapshot.
    pub fn read(&self) -> Result<ModelState, StoreError> {
        let _lock = self.lock()?;
        self.load()
    }

    /// Runs `f` on the state under the lock and saves the result if `f` succeeds.
    pub fn update<T, E>(&self, f: impl FnOnce(&mut ModelState) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let out = f(&mut state)?;
        self.write(&state)?;
        Ok(out)
    }

    fn io(&self, path: PathBuf) -> impl FnOnce(io::Error) -> StoreError {
        move |source| StoreError::Io { path, source }
    }

    fn lock(&self) -> Result<fs::File, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io(path.clone()))?;
        file.lock().map_err(self.io(path))?;
        Ok(file)
    }

    fn load(&self) -> Result<ModelState, StoreError> {
        let path = self.state_file();
        let bytes = fs::read(&path).map_err(self.io(path.clone()))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt { path, source })
    }

    fn write(&self, state: &ModelState) -> Result<(), StoreError> {
        let path = self.state_file();
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(self.io(path.clone()))?;
        tmp.write_all(&bytes).map_err(self.io(path.clone()))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::Io {
                path: path.clone(),
                source: e.error,
            })
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_saves_on_success_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), &ModelState::default()).unwrap();
        store
            .update(|s| {
                s.name = "m".into();
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let failed: Result<(), String> = store.update(|s| {
            s.name = "lost".into();
            Err("refused".to_string())
        });
        assert!(failed.is_err());
        assert_eq!(store.read().unwrap().name, "m");
    }

    #[test]
    fn corrupt_state_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), &ModelState::default()).unwrap();
        fs::write(store.state_file(), b"{").unwrap();
        let err = store.read().unwrap_err().to_string();
        assert!(
            err.contains("model.json") && err.contains("corrupt"),
            "{err}"
        );
    }

    impl From<StoreError> for String {
        fn from(e: StoreError) -> String {
            e.to_string()
        }
    }
}
