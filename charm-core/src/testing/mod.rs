//! State-transition testing, in the style of ops' newer testing API (scenario):
//! `Context::<MyCharm>::new(meta).run(event, state_in) -> state_out`.
//!
//! The charm runs through the same flow as in production (deferred events, handler,
//! collect-status, commit) over an in-memory backend that follows Juju's rules; no process is
//! started. Before running, the input state is checked against the metadata and the event:
//! an unknown endpoint, a relation event without its relation, a config value of the wrong
//! type, leader-elected on a non-leader... are rejected with [`TestError::Inconsistent`]
//! listing every problem.
//!
//! Workload containers are served for real: for each container in [`State::containers`] that
//! can connect, a fake Pebble (`pebble::fake::FakePebble`) listens on a unix socket under a
//! temporary socket base the model's containers point at, so the charm's Pebble calls go
//! over HTTP as in production. After the hook each container is read back into the output
//! state: layers (and so the plan), service statuses, files and directories, checks, notices,
//! and the changes Pebble recorded (`replan`, `restart`...: empty when nothing was
//! restarted). A declared container left out of the state, or with `can_connect: false`, has
//! no socket: every call fails with `pebble::Error::Connection`. The consistency check
//! requires containers to be declared, a Pebble event's container in the state (connectable
//! for pebble-ready), a custom-notice event's notice declared in it
//! ([`State::custom_notice_event`] builds that event) and a check event's check in its plan.
//! See the `pebble` module for an example charm and its tests.
//!
//! ```
//! use charm_core::testing::{Context, Relation, State};
//! use charm_core::{Bag, Charm, CharmError, Event, Metadata, Model, Status};
//!
//! #[derive(Default)]
//! struct Demo;
//! impl Charm for Demo {
//!     async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
//!         match model.relation("db")? {
//!             None => model.add_status(Status::blocked("needs db")),
//!             Some(rel) => {
//!                 if model.is_leader()? {
//!                     rel.set(&Bag::LocalApp, "user", "demo")?;
//!                 }
//!                 model.add_status(Status::active(""));
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let meta = Metadata::from_packed("name: demo\nrequires:\n  db: pgsql\n", None, None).unwrap();
//! let ctx = Context::<Demo>::new(meta);
//! let out = ctx.run(Event::ConfigChanged, State::default()).unwrap();
//! assert_eq!(out.unit_status, Some(Status::blocked("needs db")));
//!
//! let rel = Relation::new("db", "postgresql");
//! let out = ctx
//!     .run(Event::ConfigChanged, State { leader: true, relations: vec![rel], ..State::default() })
//!     .unwrap();
//! assert_eq!(out.relations[0].local_app_data["user"], "demo");
//! ```

mod backend;
mod consistency;
mod state;
mod workload;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::Value;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

pub use backend::MemoryBackend;
pub use state::{Relation, Secret, State};

use crate::charm::Charm;
use crate::context::{Context as HookContext, Env, JujuVersion};
use crate::dispatch::{HookError, run_hook};
use crate::event::Event;
use crate::log::{JujuLogLayer, LogBuffer, LogLine};
use crate::metadata::Metadata;
use crate::model::Model;
use crate::state::{DEFERRED_KEY, StateStore, UNIT_STATUS_KEY};
use workload::Workloads;

/// A test run that did not produce an output state.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The input state or event contradicts the metadata or Juju's rules: the test is wrong,
    /// not the charm. Every problem is listed.
    #[error("the input state is not one Juju could produce:\n  - {}", .0.join("\n  - "))]
    Inconsistent(Vec<String>),
    /// The hook failed (the process would exit non-zero); `logs` has what it logged.
    #[error("the hook failed: {error}")]
    HookFailed {
        /// The error that ended the hook, with its causes.
        error: String,
        /// Every line logged before it failed.
        logs: Vec<LogLine>,
    },
    /// The harness itself could not run the hook (e.g. no socket for a fake Pebble).
    #[error("the harness could not build the hook environment: {0}")]
    Setup(String),
}

/// Runs a charm type against states.
#[derive(Debug, Clone)]
pub struct Context<C> {
    meta: Arc<Metadata>,
    unit: String,
    version: JujuVersion,
    pebble_base: Option<std::path::PathBuf>,
    _charm: PhantomData<fn() -> C>,
}

impl<C: Charm> Context<C> {
    /// Runs as unit `<name>/0` under Juju 3.6.
    pub fn new(meta: Metadata) -> Self {
        Context {
            unit: format!("{}/0", meta.name),
            meta: Arc::new(meta),
            version: JujuVersion::new(3, 6, 0),
            pebble_base: None,
            _charm: PhantomData,
        }
    }

    /// Runs as another unit (e.g. `myapp/3`).
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// Runs under another Juju version (`JUJU_VERSION`), for charms that check it.
    pub fn juju_version(mut self, version: JujuVersion) -> Self {
        self.version = version;
        self
    }

    /// Serves the state's containers under `base`, and points `Model::container` there,
    /// instead of a temporary directory made for each run: for a test that also runs fake
    /// Pebbles of its own there (`pebble::fake::FakePebble::start_at`). The harness removes
    /// its sockets after each run, so runs can share a base.
    pub fn pebble_socket_base(mut self, base: impl Into<std::path::PathBuf>) -> Self {
        self.pebble_base = Some(base.into());
        self
    }

    /// Runs `event` against `state` and returns the state after the hook.
    pub fn run(&self, event: Event, state: State) -> Result<State, TestError> {
        let mut state = state.without_outputs();
        if let Event::Action { name, .. } = &event
            && let Some(spec) = self.meta.actions.get(name)
        {
            // Juju fills in schema defaults before the charm sees the parameters.
            for (param, schema) in &spec.params {
                if let Some(default) = schema.get("default")
                    && !state.action_params.contains_key(param)
                {
                    state.action_params.insert(param.clone(), default.clone());
                }
            }
        }
        let problems = consistency::check(&self.meta, &self.unit, &event, &state);
        if !problems.is_empty() {
            return Err(TestError::Inconsistent(problems));
        }

        let ctx = self.hook_context(&event)?;
        // What production would parse from this environment must be the event under test.
        match Event::from_context(&ctx, &self.meta) {
            Ok(Some(parsed)) if parsed == event => {}
            other => {
                return Err(TestError::Setup(format!(
                    "event {event} does not round-trip through its environment: {other:?}"
                )));
            }
        }

        let mut stored: BTreeMap<String, Value> = state.stored.clone();
        if !state.deferred.is_empty() {
            let queue = serde_json::to_value(&state.deferred)
                .map_err(|e| TestError::Setup(e.to_string()))?;
            stored.insert(DEFERRED_KEY.to_string(), queue);
        }
        if let Some(s) = &state.unit_status {
            // As if charm-core had set it: an unchanged status is not set again.
            let s = serde_json::to_value(s).map_err(|e| TestError::Setup(e.to_string()))?;
            stored.insert(UNIT_STATUS_KEY.to_string(), s);
        }

        // Containers are served by fake Pebbles over real sockets, not by the backend.
        let containers = std::mem::take(&mut state.containers);
        let workloads = if self.meta.containers.is_empty() {
            None
        } else {
            Some(Workloads::start(self.pebble_base.as_deref(), containers)?)
        };

        let backend = MemoryBackend::new(state, &self.unit, &self.meta);
        let world = backend.world.clone();
        let mut model = Model::new(
            ctx,
            self.meta.clone(),
            Box::new(backend),
            StateStore::in_memory(stored),
        );
        if let Some(workloads) = &workloads {
            model.set_pebble_socket_base(workloads.base());
        }
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::registry().with(
            JujuLogLayer::new(buffer.clone(), false).with_filter(JujuLogLayer::default_filter()),
        );
        let result: Result<(), HookError> = tracing::subscriber::with_default(subscriber, || {
            let result = run_hook::<C>(&model, event);
            if let Err(e) = &result {
                tracing::error!("Uncaught error while in charm code: {e}");
            }
            result
        });
        let logs = buffer.take();
        let (_, store) = model.into_parts();
        if let Err(e) = result {
            return Err(TestError::HookFailed {
                error: e.to_string(),
                logs,
            });
        }
        let containers = match workloads {
            Some(workloads) => workloads.read_back()?,
            None => BTreeMap::new(),
        };

        let mut world = world.borrow_mut();
        let mut out = std::mem::take(&mut world.state);
        out.tool_calls = std::mem::take(&mut world.calls);
        out.containers = containers;
        out.logs = logs;
        out.deferred = store
            .deferred()
            .map_err(|e| TestError::Setup(e.to_string()))?;
        out.stored = store
            .values()
            .iter()
            .filter(|(k, _)| !k.starts_with("charm-core/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(out)
    }

    fn hook_context(&self, event: &Event) -> Result<HookContext, TestError> {
        let mut env: Env = [
            ("JUJU_UNIT_NAME", self.unit.clone()),
            ("JUJU_MODEL_NAME", "test-model".to_string()),
            (
                "JUJU_MODEL_UUID",
                "00000000-0000-4000-8000-000000000000".to_string(),
            ),
            ("JUJU_VERSION", self.version.to_string()),
            ("JUJU_CHARM_DIR", "/nonexistent/charm".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in event.env() {
            env.insert(k.to_string(), v);
        }
        HookContext::from_env(&env).map_err(|e| TestError::Setup(e.to_string()))
    }
}
