//! The `Charm` trait: what a charm implements.

use crate::event::Event;
use crate::model::Model;
use crate::state::StateLocation;

/// The error a handler returns: any error (`?` converts `anyhow::Error`, `ModelError`, ...).
/// It is logged with its whole `source()` chain and makes the hook exit non-zero.
pub type CharmError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A charm. Implement [`Charm::reconcile`] (the preferred style: every event leads to
/// "compute the desired state from the model, apply it, report status"), or override
/// [`Charm::handle`] to treat events one by one, or both (handle a few events specially and
/// fall back to reconcile).
///
/// Handlers are `async`: charm-core runs them on a current-thread tokio runtime, so a charm
/// can `.await` a Kubernetes or HTTP client without building a runtime. Nothing needs to be
/// `Send`.
///
/// A fresh value (`Default`) is made for every hook: keep nothing in it that must outlive the
/// hook (use [`Model::store`] for that).
#[allow(async_fn_in_trait)] // Single-threaded runtime: no Send bound wanted.
pub trait Charm: Default {
    /// Where stored state and deferred events live (see [`crate::state`]).
    const STATE: StateLocation = StateLocation::CharmDir;

    /// Handles one event. The default runs actions through [`Charm::action`] and everything
    /// else through [`Charm::reconcile`].
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        match event {
            Event::Action { name, .. } => self.action(name, model).await,
            _ => self.reconcile(model).await,
        }
    }

    /// Brings the unit to the state the model asks for. Called for every non-action event by
    /// the default [`Charm::handle`].
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let _ = model;
        Ok(())
    }

    /// Runs the action `name` (parameters: [`Model::action_params`]).
    async fn action(&mut self, name: &str, model: &Model) -> Result<(), CharmError> {
        let _ = model;
        Err(format!("action `{name}` is declared but this charm does not implement it").into())
    }

    /// Called after every hook's events, like ops' collect-status: report statuses with
    /// [`Model::add_status`] / [`Model::add_app_status`]; the highest priority wins.
    async fn collect_status(&mut self, model: &Model) -> Result<(), CharmError> {
        let _ = model;
        Ok(())
    }
}
