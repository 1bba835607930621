//! The workload containers of one test run: a fake Pebble per declared container that can
//! connect, on real unix sockets under a socket base the model is pointed at, read back into
//! the output state after the hook.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::TestError;
use crate::pebble::Container;
use crate::pebble::fake::{ContainerState, FakePebble};

/// Fake Pebbles serving a state's containers for the length of one hook.
pub(crate) struct Workloads {
    base: PathBuf,
    /// Owns `base` when the harness made it.
    _dir: Option<tempfile::TempDir>,
    containers: BTreeMap<String, (ContainerState, Option<FakePebble>)>,
}

impl Workloads {
    /// Starts a fake for each container that can connect, under `base` or, when the test
    /// gave none, a new temporary directory.
    pub(crate) fn start(
        base: Option<&Path>,
        containers: BTreeMap<String, ContainerState>,
    ) -> Result<Workloads, TestError> {
        let (base, dir) = match base {
            Some(base) => (base.to_path_buf(), None),
            None => {
                let dir = tempfile::tempdir().map_err(|e| {
                    TestError::Setup(format!("cannot create a Pebble socket base: {e}"))
                })?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let mut running = BTreeMap::new();
        for (name, state) in containers {
            let socket = Container::socket_path(&base, &name);
            let fake = state
                .start(&socket)
                .map_err(|e| TestError::Setup(format!("container `{name}`: {e}")))?;
            running.insert(name, (state, fake));
        }
        Ok(Workloads {
            base,
            _dir: dir,
            containers: running,
        })
    }

    /// Where the sockets are: the model's Pebble socket base.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// Each container as the charm left it; stops the fakes.
    pub(crate) fn read_back(self) -> Result<BTreeMap<String, ContainerState>, TestError> {
        self.containers
            .into_iter()
            .map(|(name, (state, fake))| {
                let out = state.read_back(fake.as_ref()).map_err(|e| {
                    TestError::Setup(format!("cannot read container `{name}` back: {e}"))
                })?;
                Ok((name, out))
            })
            .collect()
    }
}
