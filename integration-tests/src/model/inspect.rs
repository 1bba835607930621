//! Reading the model: statuses, leadership, units, logs, data bags.

use std::path::PathBuf;

use charm_core::pebble::fake::FakePebble;

use super::{Model, ModelError};
use crate::state::{AppState, Bag, LogLine, Status};
use crate::store::STATE_FILE;

impl Model {
    pub fn unit_status(&self, unit: &str) -> Result<Status, ModelError> {
        self.state()?
            .unit(unit)
            .map(|u| u.status.clone())
            .ok_or_else(|| ModelError::Invalid(format!("unit {unit:?} not found")))
    }

    pub fn app_status(&self, app: &str) -> Result<Status, ModelError> {
        self.state()?
            .apps
            .get(app)
            .map(|a| a.status.clone())
            .ok_or_else(|| ModelError::Invalid(format!("application {app:?} not found")))
    }

    pub fn leader(&self, app: &str) -> Result<Option<String>, ModelError> {
        Ok(self.state()?.apps.get(app).and_then(|a| a.leader.clone()))
    }

    /// The application's units, in creation order.
    pub fn units(&self, app: &str) -> Result<Vec<String>, ModelError> {
        Ok(self
            .state()?
            .apps
            .get(app)
            .map(AppState::unit_names)
            .unwrap_or_default())
    }

    /// The names of the hooks `unit` ran (as the charm saw them), in order.
    pub fn hook_names(&self, unit: &str) -> Vec<String> {
        self.history
            .iter()
            .filter(|r| r.call.unit == unit)
            .map(|r| r.name.clone())
            .collect()
    }

    /// The model log's lines from `unit`: `juju-log` calls and what its hooks printed.
    pub fn logs(&self, unit: &str) -> Result<Vec<LogLine>, ModelError> {
        Ok(self
            .state()?
            .log
            .into_iter()
            .filter(|l| l.unit == unit)
            .collect())
    }

    /// The committed application bag of `app` in `relation`.
    pub fn app_bag(&self, relation: u32, app: &str) -> Result<Bag, ModelError> {
        Ok(self
            .state()?
            .relations
            .get(&relation)
            .and_then(|r| r.app_data.get(app).cloned())
            .unwrap_or_default())
    }

    /// The committed unit bag of `unit` in `relation`.
    pub fn unit_bag(&self, relation: u32, unit: &str) -> Result<Bag, ModelError> {
        Ok(self
            .state()?
            .relations
            .get(&relation)
            .and_then(|r| r.unit_data.get(unit).cloned())
            .unwrap_or_default())
    }

    /// The fake Pebble of `unit`'s workload `container`, once the unit has run a hook (and
    /// until it is removed or its pod restarts).
    pub fn pebble(&self, unit: &str, container: &str) -> Option<&FakePebble> {
        self.workloads.get(unit, container)
    }

    /// The unit's charm directory (the hooks' cwd).
    pub fn charm_dir(&self, unit: &str) -> PathBuf {
        self.paths.unit_charm(unit)
    }

    /// The path of the state file (for debugging a failing test).
    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join(STATE_FILE)
    }
}
