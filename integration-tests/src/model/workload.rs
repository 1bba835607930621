//! Workload containers of Kubernetes units: one fake Pebble per container.
//!
//! Juju mounts each workload container's Pebble socket into the charm container at
//! `/charm/containers/<name>/pebble.socket`. Here every Kubernetes unit gets a directory
//! `units/unit-<app>-<n>/containers/` with a [`FakePebble`] listening at
//! `<container>/pebble.socket`, and its hooks get `CHARM_CORE_PEBBLE_SOCKET_BASE` pointing at
//! that directory (charm-core's override of `/charm/containers`). A fake starts before the
//! unit's first hook, so `*-pebble-ready` finds Pebble up as in Juju.
//!
//! The pod's lifetime is the fakes' lifetime: `juju refresh` recreates the pod, so the fakes of
//! the application's units are dropped and fresh ones (empty plan, empty file system) start
//! with the next hook; `remove` drops them for good.

use std::collections::BTreeMap;
use std::path::Path;

use charm_core::pebble::Container;
use charm_core::pebble::fake::FakePebble;

use super::ModelError;
use crate::state::ModelState;

/// The running fakes: unit name, then container name.
#[derive(Default)]
pub(crate) struct Workloads {
    units: BTreeMap<String, BTreeMap<String, FakePebble>>,
}

impl Workloads {
    /// Starts a fake for every container of `unit` that has none yet.
    pub fn ensure(
        &mut self,
        unit: &str,
        containers: &[String],
        base: &Path,
    ) -> Result<(), ModelError> {
        let running = self.units.entry(unit.to_owned()).or_default();
        for name in containers {
            if running.contains_key(name) {
                continue;
            }
            let socket = Container::socket_path(base, name);
            let io = |what: &str, source| ModelError::Io {
                context: format!("{what} the Pebble socket {}", socket.display()),
                source,
            };
            // A socket file left by the previous pod: unix sockets cannot be re-bound over it.
            match std::fs::remove_file(&socket) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing the old", e)),
            }
            let fake = FakePebble::start_background(&socket).map_err(|e| io("starting", e))?;
            running.insert(name.clone(), fake);
        }
        Ok(())
    }

    pub fn get(&self, unit: &str, container: &str) -> Option<&FakePebble> {
        self.units.get(unit)?.get(container)
    }

    /// The unit is gone: its Pebbles with it.
    pub fn stop_unit(&mut self, unit: &str) {
        self.units.remove(unit);
    }

    /// Every unit of `app` restarts (new pods after `juju refresh`).
    pub fn restart_app(&mut self, app: &str) {
        self.units
            .retain(|unit, _| ModelState::app_of_unit(unit) != app);
    }
}
