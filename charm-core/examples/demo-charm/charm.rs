//! A small charm showing both styles charm-core supports:
//!
//! - **reconcile** (preferred): [`Demo::reconcile`] derives everything from the model on
//!   every event: read config, leadership and the relation, write the bag, report status.
//! - **per event**: [`Demo::handle`] treats a few events specially (an action, `stop`) and
//!   sends everything else to `reconcile`.
//!
//! The directory also holds the charm's `metadata.yaml`, `config.yaml` and `actions.yaml`;
//! the benchmark (`benches/hook.rs`) runs this charm as a real process against stand-in hook
//! tools.

use charm_core::{Bag, Charm, CharmError, Event, Model, Status};

#[derive(Default)]
pub struct Demo;

impl Demo {
    fn fileset(model: &Model) -> Result<Option<Vec<String>>, CharmError> {
        let Some(raw) = model.config()?.string("fileset")? else {
            return Ok(None);
        };
        let paths: Vec<String> = raw
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if paths.is_empty() {
            return Ok(None);
        }
        Ok(Some(paths))
    }
}

impl Charm for Demo {
    /// Per-event style for what is not a reconcile: actions, and `stop`.
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        match event {
            Event::Action { name, .. } if name == "show-fileset" => {
                #[derive(serde::Deserialize)]
                struct Params {
                    format: String,
                }
                let params: Params = model.action_params_as()?;
                match Self::fileset(model)? {
                    None => model.fail_action("no fileset configured")?,
                    Some(paths) if params.format == "list" => {
                        let items: serde_json::Map<String, serde_json::Value> = paths
                            .iter()
                            .enumerate()
                            .map(|(i, p)| (format!("path{i}"), p.clone().into()))
                            .collect();
                        model.set_action_results(serde_json::json!({ "fileset": items }))?
                    }
                    Some(paths) => {
                        model.set_action_results(serde_json::json!({"fileset": paths.join(",")}))?
                    }
                }
                Ok(())
            }
            Event::Stop => {
                tracing::info!("stopping: nothing to clean up, the agent keeps the fileset");
                Ok(())
            }
            _ => self.reconcile(model).await,
        }
    }

    /// Reconcile style: every other event converges the same way.
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let Some(paths) = Self::fileset(model)? else {
            model.add_status(Status::blocked("missing fileset config"));
            return Ok(());
        };
        if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
            tracing::warn!("fileset path {bad:?} is not absolute");
            model.add_status(Status::blocked("invalid config: fileset"));
            return Ok(());
        }
        if model.config()?.get::<bool>("verbose")? {
            tracing::info!("fileset: {}", paths.join(","));
        }
        let Some(relation) = model.relation("backup")? else {
            model.add_status(Status::waiting("waiting for backup relation"));
            return Ok(());
        };
        if model.is_leader()? {
            // Reading first lets charm-core skip the relation-set when nothing changed.
            let current = relation.local_app_data()?;
            let fileset = paths.join(",");
            if current.get("fileset") != Some(&fileset) {
                // INFO: the operator wants to know what the charm changed (DEBUG is off by
                // default in Juju); lines of one level cost one `juju-log` call together.
                tracing::info!("handing the new fileset {fileset} to the backup agent");
            }
            relation.set(&Bag::LocalApp, "fileset", fileset)?;
        }
        model.add_status(Status::active(""));
        Ok(())
    }
}
