//! The model as this unit sees it during one hook.
//!
//! Every read goes through the [`Backend`] lazily and at most once per hook (config,
//! leadership, relation ids, unit lists, each bag, goal state, networks, secrets...); every
//! write the charm might change its mind about (relation data, status, workload version, action
//! results, stored state) is collected and applied once, at the end of a successful hook, by
//! [`Model::commit`]. ops' permission rules are checked here, before any tool runs, with errors
//! that say what was refused and why.
//!
//! Methods take `&self` (the caches use interior mutability) so a charm can hold a relation
//! handle, the config and the model at once, including across `.await`s.

mod action;
mod config;
mod relation;
mod secrets;
mod workload;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use action::flatten_results;
#[cfg(any(test, feature = "testing"))]
pub(crate) use action::validate_params as validate_action_params;
pub use config::{Config, ConfigError, FromConfig};
pub use relation::{Bag, Relation};

use crate::backend::{Backend, BackendError, GoalState, StorageInfo};
use crate::context::{Context, StorageId};
use crate::event::{Event, RelationId};
use crate::metadata::Metadata;
use crate::network::{Network, Port};
use crate::state::{StateError, StateStore};
use crate::status::{Status, StatusCollector};

/// A model operation that failed. Returned by every [`Model`] method; a handler usually
/// passes it on with `?` (the hook fails and Juju retries it), or matches the variants it can
/// handle, e.g. [`ModelError::is_not_found`] for a relation removed while the hook ran.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hook tool failed (see [`BackendError`]).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The configuration does not match `config.yaml` (a wrong type, an unknown option).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Stored state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A workload container's Pebble refused or could not be reached
    /// ([`crate::pebble::Error::Connection`] means Pebble is not up yet).
    #[error(transparent)]
    Pebble(#[from] crate::pebble::Error),
    /// The charm named something its metadata does not declare: a bug in the charm, caught
    /// before any tool runs.
    #[error("`{name}` is not {what} of this charm (metadata declares: {declared})")]
    Undeclared {
        /// What kind of thing, e.g. `an endpoint`, `a container`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The names the metadata declares, for the message.
        declared: String,
    },
    /// The relation does not exist (any more).
    #[error("relation {0} not found")]
    RelationNotFound(String),
    /// [`Model::relation`] found several relations on an endpoint that may have many.
    #[error("endpoint `{endpoint}` has {count} relations; use relations() to pick one")]
    TooManyRelations {
        /// The endpoint.
        endpoint: String,
        /// How many relations it has.
        count: usize,
    },
    /// ops' rules forbid this read or write (e.g. writing a remote bag).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A leader-only operation on a unit that is not the leader.
    #[error("only the leader can {0}")]
    NotLeader(String),
    /// Relation data that is not a valid bag (an empty key).
    #[error("invalid relation data: {0}")]
    InvalidData(String),
    /// An action operation outside an action, or parameters that do not match `actions.yaml`.
    #[error("action: {0}")]
    Action(String),
    /// A secret operation Juju would refuse (bad content, wrong owner).
    #[error("secret: {0}")]
    Secret(String),
    /// The charm used the API in a way that cannot work (e.g. deferring an action).
    #[error("{0}")]
    Usage(String),
}

impl ModelError {
    /// Whether this is Juju saying a relation or secret does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ModelError::RelationNotFound(_)
                | ModelError::Backend(
                    BackendError::RelationNotFound { .. } | BackendError::SecretNotFound { .. }
                )
        )
    }
}

/// What has been read this hook.
#[derive(Default)]
struct Cache {
    config: Option<Rc<Config>>,
    leader: Option<bool>,
    relation_ids: BTreeMap<String, Vec<RelationId>>,
    /// Relation id -> endpoint, for every relation seen.
    endpoints: BTreeMap<RelationId, String>,
    units: BTreeMap<RelationId, Vec<String>>,
    remote_app: BTreeMap<RelationId, Option<String>>,
    /// (relation, member name, is app) -> bag as Juju has it.
    bags: BTreeMap<(RelationId, String, bool), BTreeMap<String, String>>,
    goal_state: Option<Rc<GoalState>>,
    networks: BTreeMap<(String, Option<RelationId>), Rc<Network>>,
    resources: BTreeMap<String, PathBuf>,
    opened_ports: Option<BTreeSet<Port>>,
    storage: BTreeMap<Option<String>, Vec<StorageId>>,
    storage_info: BTreeMap<StorageId, StorageInfo>,
    action_params: Option<Rc<serde_json::Map<String, serde_json::Value>>>,
    secrets: BTreeMap<(String, crate::secret::SecretGet), BTreeMap<String, String>>,
}

/// What will be written when the hook succeeds.
#[derive(Default)]
struct Pending {
    /// (relation, is app) -> (endpoint, key -> value; empty value deletes).
    bags: BTreeMap<(RelationId, bool), (String, BTreeMap<String, String>)>,
    unit_status: StatusCollector,
    app_status: StatusCollector,
    workload_version: Option<String>,
    action_results: BTreeMap<String, String>,
    action_failure: Option<String>,
}

/// The model: this unit's view of Juju for one hook.
pub struct Model {
    ctx: Context,
    meta: Arc<Metadata>,
    /// Where workload containers' Pebble sockets are (`/charm/containers`).
    pebble_base: PathBuf,
    backend: RefCell<Box<dyn Backend>>,
    store: RefCell<StateStore>,
    event: RefCell<Option<Event>>,
    deferred: Cell<bool>,
    cache: RefCell<Cache>,
    pending: RefCell<Pending>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("unit", &self.ctx.unit_name)
            .field("event", &self.event.borrow())
            .finish_non_exhaustive()
    }
}

impl Model {
    /// A model over `backend`, with state already loaded into `store`.
    pub fn new(
        ctx: Context,
        meta: Arc<Metadata>,
        backend: Box<dyn Backend>,
        store: StateStore,
    ) -> Model {
        Model {
            ctx,
            meta,
            pebble_base: PathBuf::from(crate::pebble::DEFAULT_SOCKET_BASE),
            backend: RefCell::new(backend),
            store: RefCell::new(store),
            event: RefCell::new(None),
            deferred: Cell::new(false),
            cache: RefCell::new(Cache::default()),
            pending: RefCell::new(Pending::default()),
        }
    }

    /// Runs `f` with the backend. Never call back into the model from `f`.
    fn with_backend<T>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut backend = self.backend.borrow_mut();
        f(backend.as_mut())
    }

    /// The hook context (environment).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The charm's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// This unit's name, e.g. `backup-integrator/0` (`JUJU_UNIT_NAME`).
    pub fn unit_name(&self) -> &str {
        &self.ctx.unit_name
    }

    /// This application's name as deployed (the unit name before the `/`), which may differ
    /// from the charm's name.
    pub fn app_name(&self) -> &str {
        &self.ctx.app_name
    }

    /// The Juju model's name (`JUJU_MODEL_NAME`).
    pub fn model_name(&self) -> &str {
        &self.ctx.model_name
    }

    /// The Juju model's UUID (`JUJU_MODEL_UUID`): unique where names are not, e.g. to name
    /// resources outside Juju.
    pub fn model_uuid(&self) -> &str {
        &self.ctx.model_uuid
    }

    /// The charm directory (Juju's working directory for the hook).
    pub fn charm_dir(&self) -> &std::path::Path {
        &self.ctx.charm_dir
    }

    /// The event being handled (a re-emitted deferred event while deferred events run).
    pub fn event(&self) -> Option<Event> {
        self.event.borrow().clone()
    }

    pub(crate) fn set_event(&self, event: Option<Event>) {
        *self.event.borrow_mut() = event;
        self.deferred.set(false);
    }

    /// Whether this unit is the leader (`is-leader`, once per hook).
    pub fn is_leader(&self) -> Result<bool, ModelError> {
        if let Some(l) = self.cache.borrow().leader {
            return Ok(l);
        }
        let leader = self.with_backend(|b| b.is_leader())?;
        self.cache.borrow_mut().leader = Some(leader);
        Ok(leader)
    }

    pub(crate) fn require_leader(&self, what: &str) -> Result<(), ModelError> {
        if self.is_leader()? {
            Ok(())
        } else {
            Err(ModelError::NotLeader(what.to_string()))
        }
    }

    /// The charm's config (`config-get`, once per hook), typed by `config.yaml`.
    pub fn config(&self) -> Result<Rc<Config>, ModelError> {
        if let Some(c) = &self.cache.borrow().config {
            return Ok(c.clone());
        }
        let raw = self.with_backend(|b| b.config_get())?;
        let config = Rc::new(Config::from_juju(&self.meta.config, &raw)?);
        self.cache.borrow_mut().config = Some(config.clone());
        Ok(config)
    }

    /// Reports a unit status. The highest-priority status reported during the hook is set
    /// when it ends (error > blocked > maintenance > waiting > active).
    pub fn add_status(&self, status: Status) {
        self.pending.borrow_mut().unit_status.add(status);
    }

    /// Reports an application status; only the leader may.
    pub fn add_app_status(&self, status: Status) -> Result<(), ModelError> {
        self.require_leader("set the application status")?;
        self.pending.borrow_mut().app_status.add(status);
        Ok(())
    }

    /// The unit status that will be set (the winner so far).
    pub fn pending_status(&self) -> Option<Status> {
        self.pending.borrow().unit_status.winner().cloned()
    }

    /// The status Juju has now (`status-get`); `None` for unknown/error.
    pub fn current_status(&self, app: bool) -> Result<Option<Status>, ModelError> {
        if app {
            self.require_leader("read the application status")?;
        }
        Ok(self.with_backend(|b| b.status_get(app))?)
    }

    /// Sets the workload version shown by `juju status` (at the end of the hook).
    pub fn set_workload_version(&self, version: impl Into<String>) {
        self.pending.borrow_mut().workload_version = Some(version.into());
    }

    /// `network-get` for a binding (an endpoint or extra binding), once per hook.
    pub fn network(
        &self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<Rc<Network>, ModelError> {
        if !self.meta.endpoints.contains_key(binding) && !self.meta.extra_bindings.contains(binding)
        {
            return Err(self.undeclared("a binding", binding, self.binding_names()));
        }
        let key = (binding.to_string(), relation);
        if let Some(n) = self.cache.borrow().networks.get(&key) {
            return Ok(n.clone());
        }
        let network = Rc::new(self.with_backend(|b| b.network_get(binding, relation))?);
        self.cache
            .borrow_mut()
            .networks
            .insert(key, network.clone());
        Ok(network)
    }

    fn binding_names(&self) -> Vec<&str> {
        self.meta
            .endpoints
            .keys()
            .chain(self.meta.extra_bindings.iter())
            .map(String::as_str)
            .collect()
    }

    /// The path of a resource file or OCI image metadata (`resource-get`), once per hook.
    pub fn resource(&self, name: &str) -> Result<PathBuf, ModelError> {
        if !self.meta.resources.contains_key(name) {
            let names = self.meta.resources.keys().map(String::as_str).collect();
            return Err(self.undeclared("a resource", name, names));
        }
        if let Some(p) = self.cache.borrow().resources.get(name) {
            return Ok(p.clone());
        }
        let path = self.with_backend(|b| b.resource_get(name))?;
        self.cache
            .borrow_mut()
            .resources
            .insert(name.to_string(), path.clone());
        Ok(path)
    }

    /// `goal-state`, once per hook.
    pub fn goal_state(&self) -> Result<Rc<GoalState>, ModelError> {
        if let Some(g) = &self.cache.borrow().goal_state {
            return Ok(g.clone());
        }
        let goal = Rc::new(self.with_backend(|b| b.goal_state())?);
        self.cache.borrow_mut().goal_state = Some(goal.clone());
        Ok(goal)
    }

    /// The number of units of this application that are or will be running (ops'
    /// `planned_units`).
    pub fn planned_units(&self) -> Result<usize, ModelError> {
        Ok(self.goal_state()?.planned_units())
    }

    /// The ports this unit has opened (`opened-ports`, once per hook).
    pub fn opened_ports(&self) -> Result<BTreeSet<Port>, ModelError> {
        if let Some(p) = &self.cache.borrow().opened_ports {
            return Ok(p.clone());
        }
        let ports: BTreeSet<Port> = self
            .with_backend(|b| b.opened_ports())?
            .into_iter()
            .collect();
        self.cache.borrow_mut().opened_ports = Some(ports.clone());
        Ok(ports)
    }

    /// Opens `port` (`open-port`) unless it is already open.
    pub fn open_port(&self, port: Port) -> Result<(), ModelError> {
        if self.opened_ports()?.contains(&port) {
            return Ok(());
        }
        self.with_backend(|b| b.open_port(&port))?;
        if let Some(p) = &mut self.cache.borrow_mut().opened_ports {
            p.insert(port);
        }
        Ok(())
    }

    /// Closes `port` (`close-port`) if it is open.
    pub fn close_port(&self, port: Port) -> Result<(), ModelError> {
        if !self.opened_ports()?.contains(&port) {
            return Ok(());
        }
        self.with_backend(|b| b.close_port(&port))?;
        if let Some(p) = &mut self.cache.borrow_mut().opened_ports {
            p.remove(&port);
        }
        Ok(())
    }

    /// Makes exactly `ports` open: opens the missing ones, closes the others.
    pub fn set_ports(&self, ports: impl IntoIterator<Item = Port>) -> Result<(), ModelError> {
        let want: BTreeSet<Port> = ports.into_iter().collect();
        let have = self.opened_ports()?;
        for p in have.difference(&want) {
            self.close_port(*p)?;
        }
        for p in want.difference(&have) {
            self.open_port(*p)?;
        }
        Ok(())
    }

    /// The attached instances of a storage (`storage-list NAME`), once per hook.
    pub fn storage(&self, name: &str) -> Result<Vec<StorageId>, ModelError> {
        if !self.meta.storage.contains_key(name) {
            let names = self.meta.storage.keys().map(String::as_str).collect();
            return Err(self.undeclared("a storage", name, names));
        }
        let key = Some(name.to_string());
        if let Some(s) = self.cache.borrow().storage.get(&key) {
            return Ok(s.clone());
        }
        let ids = self.with_backend(|b| b.storage_list(Some(name)))?;
        self.cache.borrow_mut().storage.insert(key, ids.clone());
        Ok(ids)
    }

    /// Where a storage instance is (`storage-get -s NAME/IDX`), once per hook.
    pub fn storage_info(&self, id: &StorageId) -> Result<StorageInfo, ModelError> {
        if let Some(s) = self.cache.borrow().storage_info.get(id) {
            return Ok(s.clone());
        }
        let info = self.with_backend(|b| b.storage_get(id))?;
        self.cache
            .borrow_mut()
            .storage_info
            .insert(id.clone(), info.clone());
        Ok(info)
    }

    /// The value stored under `key` (see [`crate::state`]).
    pub fn stored<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ModelError> {
        Ok(self.store.borrow().get(key)?)
    }

    /// Stores `value` under `key`; saved at the end of a successful hook.
    pub fn store<T: Serialize>(&self, key: &str, value: &T) -> Result<(), ModelError> {
        Ok(self.store.borrow_mut().set(key, value)?)
    }

    /// Removes `key` from the stored state.
    pub fn remove_stored(&self, key: &str) -> Result<(), ModelError> {
        Ok(self.store.borrow_mut().remove(key)?)
    }

    /// Defers the event being handled: it is re-run before the next event (ops' `defer()`).
    /// Prefer reconciling (see [`crate::state`]).
    pub fn defer(&self) -> Result<(), ModelError> {
        match &*self.event.borrow() {
            None => Err(ModelError::Usage("there is no event to defer".into())),
            Some(Event::Action { name, .. }) => Err(ModelError::Usage(format!(
                "cannot defer action {name}: actions run once, when the user asks"
            ))),
            Some(Event::Stop | Event::Remove) => Err(ModelError::Usage(
                "cannot defer stop or remove: no hook of this unit may follow".into(),
            )),
            Some(_) => {
                self.deferred.set(true);
                Ok(())
            }
        }
    }

    pub(crate) fn take_deferred(&self) -> bool {
        self.deferred.replace(false)
    }

    pub(crate) fn state_store(&self) -> std::cell::RefMut<'_, StateStore> {
        self.store.borrow_mut()
    }

    fn undeclared(&self, what: &'static str, name: &str, declared: Vec<&str>) -> ModelError {
        ModelError::Undeclared {
            what,
            name: name.to_string(),
            declared: if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            },
        }
    }

    /// Applies everything collected during the hook, in this order: action results and
    /// failure, relation data (one `relation-set` per changed bag, writes that change nothing
    /// skipped), workload version, application status, unit status (skipped when it is the one
    /// charm-core set last, except in install, stop and remove: see [`crate::status`]), stored
    /// state. Juju itself only commits relation data when the hook exits 0.
    pub fn commit(&self) -> Result<(), ModelError> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if !pending.action_results.is_empty() {
            self.with_backend(|b| b.action_set(&pending.action_results))?;
        }
        if let Some(msg) = &pending.action_failure {
            self.with_backend(|b| b.action_fail(msg))?;
        }
        for ((id, app), (endpoint, changes)) in &pending.bags {
            let changes = self.effective_changes(*id, *app, changes);
            if changes.is_empty() {
                continue;
            }
            let rel = crate::backend::RelationRef { endpoint, id: *id };
            self.with_backend(|b| b.relation_set(rel, *app, &changes))
                .map_err(|e| match e {
                    BackendError::RelationNotFound { .. } => {
                        ModelError::RelationNotFound(rel.to_string())
                    }
                    other => ModelError::Backend(other),
                })?;
        }
        if let Some(v) = &pending.workload_version {
            self.with_backend(|b| b.application_version_set(v))?;
        }
        if let Some(status) = pending.app_status.winner() {
            self.with_backend(|b| b.status_set(true, status))?;
        }
        // Juju sets the unit status itself around install, stop and remove (see
        // `crate::status`): there the remembered status says nothing about what Juju shows.
        let juju_sets_status = matches!(
            *self.event.borrow(),
            Some(Event::Install | Event::Stop | Event::Remove)
        );
        if let Some(status) = pending.unit_status.winner() {
            let last = if juju_sets_status {
                None
            } else {
                self.store.borrow().last_unit_status()
            };
            if last.as_ref() != Some(status) {
                self.with_backend(|b| b.status_set(false, status))?;
                self.store.borrow_mut().set_last_unit_status(status)?;
            }
        }
        if matches!(*self.event.borrow(), Some(Event::Stop)) {
            // Juju sets maintenance after stop: the next hook (on Kubernetes, the restarted
            // pod's) sets the status again. No hook follows remove: nothing to forget there
            // (and with state in Juju, forgetting would cost a `state-delete`).
            self.store.borrow_mut().forget_last_unit_status();
        }
        let mut store = self.store.borrow_mut();
        let mut backend = self.backend.borrow_mut();
        store.save(backend.as_mut())?;
        Ok(())
    }

    /// Sends buffered log lines (see [`crate::log`]) through this model's backend.
    pub(crate) fn flush_logs(&self, buffer: &crate::log::LogBuffer) -> Result<usize, BackendError> {
        let mut backend = self.backend.borrow_mut();
        buffer.flush(backend.as_mut(), &mut std::io::stdout())
    }

    /// Gives the backend back (the testing harness reads its state).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn into_parts(self) -> (Box<dyn Backend>, StateStore) {
        (self.backend.into_inner(), self.store.into_inner())
    }
}

#[cfg(test)]
mod tests;
