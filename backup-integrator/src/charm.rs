//! The charm: one reconcile for every hook but `remove`, which cleans up.

use charm_core::contract::{BagCodec, Published, publish_all};
use charm_core::{Charm, CharmError, Event, Model, Status};

use crate::BACKUP_ENDPOINT;
use crate::config::Options;
use crate::script_root;
use crate::scripts::{Change, ScriptDir};

/// The backup-integrator charm. Holds nothing: everything comes from the model and the
/// filesystem at every hook.
#[derive(Debug, Default)]
pub struct BackupIntegrator;

impl BackupIntegrator {
    fn script_dir(model: &Model) -> Result<ScriptDir, CharmError> {
        let root = script_root::current()?;
        Ok(ScriptDir::new(&root, model.unit_name()))
    }
}

impl Charm for BackupIntegrator {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        match event {
            Event::Remove => {
                let dir = Self::script_dir(model)?;
                if dir.remove()? {
                    tracing::info!("Removed {}.", dir.unit_dir().display());
                }
                Ok(())
            }
            _ => self.reconcile(model).await,
        }
    }

    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let request = match Options::from_config(&*model.config()?)?.validate() {
            Ok(request) => request,
            Err(error) => {
                for problem in error.problems() {
                    tracing::warn!("Invalid config: {problem}.");
                }
                model.add_status(error.status());
                return Ok(());
            }
        };
        if model.relations(BACKUP_ENDPOINT)?.is_empty() {
            model.add_status(Status::waiting("waiting for backup relation"));
            return Ok(());
        }
        if !model.is_leader()? {
            model.add_status(Status::active(""));
            return Ok(());
        }

        // Everything is known valid before the first write: the message is checked by the
        // interface's rules before any script is touched.
        let dir = Self::script_dir(model)?;
        let message = request.message(|option| dir.path(option));
        message.to_bag()?;
        for (option, change) in dir.sync(request.scripts())? {
            match change {
                Change::Unchanged | Change::Absent => {}
                change => tracing::info!("Script {option}: {change:?} ({}).", dir.path(option)),
            }
        }
        // Every backup relation gets the same bag; an equal bag is not written (no needless
        // relation-changed on the agent's side), stale keys are deleted.
        for (id, published) in publish_all(model, BACKUP_ENDPOINT, &message)? {
            if let Published::Written(changes) = published {
                tracing::info!(
                    "Requesting backup on {BACKUP_ENDPOINT}:{id}: set {:?}, delete {:?}.",
                    changes.set,
                    changes.delete
                );
            }
        }
        model.add_status(Status::active(""));
        Ok(())
    }
}
