//! The model driver: what `juju deploy`, `integrate`, `config`, `refresh`, `run` and the unit
//! agents do, for tests.
//!
//! Every operation changes the model and queues the hooks Juju would run for it; with
//! auto-settle on (the default) the queue then runs until empty. Each hook is a real process:
//! the unit's own copy of the charm's `dispatch`, cwd its charm directory, a clean environment
//! with the `JUJU_*` variables and `PATH` starting with the simulator's tool directory. When it
//! exits 0 its journal (relation data, ports, charm state, secrets, storage) is committed and
//! the hooks that triggers on other units are queued; otherwise the journal is dropped, the
//! hook stays at the head of the queue (Juju retries it) and the operation returns
//! [`ModelError::HookFailed`].
//!
//! Tests that check order-independence turn auto-settle off, inspect or reorder
//! [`Model::queue_mut`], run any hook again with [`Model::run`], then [`Model::settle`].

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::charm::{CharmError, CharmMeta, OptionType, Role, Scope};
use crate::state::{
    ActionRun, AppState, Bag, HookContext, LogLine, ModelState, RelationEndpoint, SecretOwner,
    SecretState, Status,
};
use crate::store::{STATE_FILE, Store, StoreError};
use crate::tools::STATE_ENV;

mod commit;
pub mod hook;
mod process;
mod topology;

pub use hook::{Hook, HookCall};
pub use process::Exit;
use topology::Paths;

/// The Juju version the simulator reports.
pub const JUJU_VERSION: &str = "3.6.4";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Charm(#[from] CharmError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// The test asked for something Juju would refuse.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    HookFailed(Box<HookFailure>),
    #[error("the model did not settle after {0} hooks; next: {1}")]
    NotSettled(usize, String),
}

/// A hook that did not exit 0, with what it printed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("hook failed: {call}: {reason}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}")]
pub struct HookFailure {
    pub call: HookCall,
    pub reason: String,
    pub stdout: String,
    pub stderr: String,
}

fn hook_failed(call: &HookCall, reason: String, stdout: String, stderr: String) -> ModelError {
    ModelError::HookFailed(Box::new(HookFailure {
        call: call.clone(),
        reason,
        stdout,
        stderr,
    }))
}

fn invalid<T>(message: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::Invalid(message.into()))
}

/// One hook that ran.
#[derive(Debug, Clone)]
pub struct HookRecord {
    pub call: HookCall,
    /// The hook name as the charm saw it (`backup-relation-changed`, or the action name).
    pub name: String,
    pub exit: Exit,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionStatus {
    Completed,
    Failed,
}

#[derive(Debug, Clone)]
pub struct ActionOutcome {
    pub id: String,
    pub status: ActionStatus,
    /// The `action-fail` message, or `exit status N` when the process failed.
    pub message: Option<String>,
    pub results: serde_json::Map<String, Value>,
    pub log: Vec<String>,
    pub record: HookRecord,
}

/// What to deploy.
#[derive(Debug, Clone, Default)]
pub struct Deploy {
    /// An unpacked charm directory or a `.charm` file.
    pub charm: PathBuf,
    /// Default: 1 for principals, 0 for subordinates (whose units come from relations).
    pub units: Option<u32>,
    pub config: Vec<(String, String)>,
    /// Resource name to the file `resource-get` returns.
    pub resources: Vec<(String, PathBuf)>,
    /// Extra environment for this application's hooks.
    pub env: Vec<(String, String)>,
}

impl Deploy {
    pub fn new(charm: impl Into<PathBuf>) -> Self {
        Deploy {
            charm: charm.into(),
            ..Default::default()
        }
    }

    pub fn units(mut self, n: u32) -> Self {
        self.units = Some(n);
        self
    }

    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    pub fn resource(mut self, name: &str, path: impl Into<PathBuf>) -> Self {
        self.resources.push((name.into(), path.into()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A simulated model in a temporary directory.
pub struct Model {
    dir: tempfile::TempDir,
    bin_dir: PathBuf,
    store: Store,
    paths: Paths,
    queue: VecDeque<HookCall>,
    history: Vec<HookRecord>,
    auto_settle: bool,
    hook_timeout: Duration,
    max_hooks: usize,
    charm_revision: u32,
}

impl Model {
    /// A new empty model; `sim_binary` is the `juju-sim` executable (in this crate's
    /// integration tests: `env!("CARGO_BIN_EXE_juju-sim")`).
    pub fn new(sim_binary: impl AsRef<Path>) -> Result<Model, ModelError> {
        let dir = tempfile::Builder::new()
            .prefix("juju-sim-")
            .tempdir()
            .map_err(|source| ModelError::Io {
                context: "creating the simulator directory".into(),
                source,
            })?;
        let bin_dir = dir.path().join("bin");
        let io = |context: String| move |source| ModelError::Io { context, source };
        std::fs::create_dir_all(&bin_dir).map_err(io(format!("creating {}", bin_dir.display())))?;
        let sim = sim_binary.as_ref();
        if !sim.is_file() {
            return invalid(format!("juju-sim binary {} not found", sim.display()));
        }
        for name in crate::tools::tool_names() {
            let link = bin_dir.join(name);
            std::os::unix::fs::symlink(sim, &link)
                .map_err(io(format!("linking {}", link.display())))?;
        }
        // A stable-looking, unique UUID: derived from the simulator directory's name.
        let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for b in dir.path().as_os_str().as_encoded_bytes() {
            hash = (hash ^ u128::from(*b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
        let h = format!("{hash:032x}");
        let uuid = format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        let state = ModelState {
            name: "sim".into(),
            uuid,
            juju_version: JUJU_VERSION.into(),
            ..Default::default()
        };
        let store = Store::create(dir.path(), &state)?;
        let paths = Paths {
            root: dir.path().to_owned(),
        };
        Ok(Model {
            dir,
            bin_dir,
            store,
            paths,
            queue: VecDeque::new(),
            history: Vec::new(),
            auto_settle: true,
            hook_timeout: Duration::from_secs(120),
            max_hooks: 5000,
            charm_revision: 0,
        })
    }

    /// The simulator directory (state file, unit directories, tool links).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The directory holding the hook tools.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A snapshot of the whole model.
    pub fn state(&self) -> Result<ModelState, ModelError> {
        Ok(self.store.read()?)
    }

    /// Turns automatic settling after each operation on or off.
    pub fn set_auto_settle(&mut self, on: bool) {
        self.auto_settle = on;
    }

    pub fn set_hook_timeout(&mut self, limit: Duration) {
        self.hook_timeout = limit;
    }

    /// Hooks waiting to run, in order.
    pub fn queue(&self) -> &VecDeque<HookCall> {
        &self.queue
    }

    /// The queue, for tests that reorder or repeat hooks.
    pub fn queue_mut(&mut self) -> &mut VecDeque<HookCall> {
        &mut self.queue
    }

    /// Every hook run so far.
    pub fn history(&self) -> &[HookRecord] {
        &self.history
    }

    /// Drops the hook at the head of the queue (`juju resolved --no-retry`).
    pub fn skip_failed(&mut self) -> Option<HookCall> {
        self.queue.pop_front()
    }

    fn enqueue(&mut self, hooks: impl IntoIterator<Item = HookCall>) -> Result<(), ModelError> {
        for call in hooks {
            // Juju coalesces a pending relation-changed for the same unit and remote.
            let coalesce = matches!(call.hook, Hook::RelationChanged { .. })
                && self.queue.iter().any(|q| *q == call);
            if !coalesce {
                self.queue.push_back(call);
            }
        }
        if self.auto_settle {
            self.settle()?;
        }
        Ok(())
    }

    /// Runs queued hooks until none are left; stops at the first failing hook, which stays
    /// queued.
    pub fn settle(&mut self) -> Result<(), ModelError> {
        let mut ran = 0;
        while let Some(call) = self.queue.pop_front() {
            if ran >= self.max_hooks {
                let next = call.to_string();
                self.queue.push_front(call);
                return Err(ModelError::NotSettled(ran, next));
            }
            ran += 1;
            match self.execute(&call) {
                Ok(_) => {}
                Err(e @ ModelError::HookFailed(_)) => {
                    self.queue.push_front(call);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs one hook now, whatever is queued. Hooks it triggers are queued (and run if
    /// auto-settle is on). Returns `None` when the hook no longer applies (its unit or
    /// relation is gone), as Juju would not run it.
    pub fn run(&mut self, unit: &str, hook: Hook) -> Result<Option<HookRecord>, ModelError> {
        let record = self.execute(&HookCall::new(unit, hook))?;
        if self.auto_settle {
            self.settle()?;
        }
        Ok(record)
    }

    /// Runs a hook: prepares the context, runs `dispatch`, commits or drops its journal.
    fn execute(&mut self, call: &HookCall) -> Result<Option<HookRecord>, ModelError> {
        let Some(prepared) = self.prepare(call)? else {
            return Ok(None);
        };
        let exit = self.dispatch(&prepared);
        let succeeded = exit.as_ref().is_ok_and(Exit::success);
        let (follow, _) = self.finish(call, succeeded)?;
        let exit = match exit {
            Ok(exit) => exit,
            Err(reason) => return Err(hook_failed(call, reason, String::new(), String::new())),
        };
        let record = HookRecord {
            call: call.clone(),
            name: prepared.name,
            exit: exit.clone(),
        };
        self.history.push(record.clone());
        if !succeeded {
            let reason = if exit.timed_out {
                format!("timed out after {:?}", self.hook_timeout)
            } else {
                match exit.code {
                    Some(code) => format!("exit status {code}"),
                    None => "killed by a signal".into(),
                }
            };
            return Err(hook_failed(call, reason, exit.stdout, exit.stderr));
        }
        let auto = std::mem::replace(&mut self.auto_settle, false);
        self.enqueue(follow)?;
        self.auto_settle = auto;
        Ok(Some(record))
    }

    fn dispatch(&self, prepared: &Prepared) -> Result<Exit, String> {
        process::run(process::Spec {
            program: &prepared.charm_dir.join("dispatch"),
            args: &[],
            cwd: &prepared.charm_dir,
            env: &prepared.env,
            stdin: None,
            limit: self.hook_timeout,
        })
    }

    /// Opens a hook context for `unit` without running the charm: the test plays the charm,
    /// calling hook tools through [`OpenHook::tool`], then ends the hook with an exit code.
    pub fn open_hook(&mut self, unit: &str, hook: Hook) -> Result<OpenHook<'_>, ModelError> {
        let call = HookCall::new(unit, hook);
        let prepared = self
            .prepare(&call)?
            .ok_or_else(|| ModelError::Invalid(format!("{call} does not apply")))?;
        Ok(OpenHook {
            model: self,
            call,
            prepared,
        })
    }

    /// Sets up the hook context in the state; `None` if the hook no longer applies.
    fn prepare(&mut self, call: &HookCall) -> Result<Option<Prepared>, ModelError> {
        let bin_dir = self.bin_dir.clone();
        let state_file = self.store.state_file();
        self.store
            .update(|state| -> Result<Option<Prepared>, ModelError> {
                let unit = call.unit.as_str();
                let app_name = ModelState::app_of_unit(unit).to_owned();
                let Some(u) = state.unit(unit).cloned() else {
                    return Ok(None);
                };
                if let Some(rel_id) = call.hook.relation() {
                    let Some(rel) = state.relations.get_mut(&rel_id) else {
                        return Ok(None);
                    };
                    match &call.hook {
                        Hook::RelationCreated { .. } => {
                            rel.created.insert(unit.to_owned());
                        }
                        Hook::RelationJoined { remote, .. } => {
                            rel.members
                                .entry(unit.to_owned())
                                .or_default()
                                .insert(remote.clone());
                        }
                        Hook::RelationDeparted { remote, .. } => {
                            if let Some(m) = rel.members.get_mut(unit) {
                                m.remove(remote);
                            }
                        }
                        _ => {}
                    }
                }
                let app = state
                    .apps
                    .get(&app_name)
                    .ok_or_else(|| ModelError::Invalid(format!("no application {app_name:?}")))?;
                let name = call.hook.name(state, &app_name);
                state.counters.context += 1;
                let context_id = format!("{unit}-{name}-{}", state.counters.context);
                let is_k8s = !app.charm.containers.is_empty();
                let mut env: Vec<(String, String)> = vec![
                    (
                        "PATH".into(),
                        format!(
                            "{}:{}",
                            bin_dir.display(),
                            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
                        ),
                    ),
                    ("LANG".into(), "C.UTF-8".into()),
                    (
                        "HOME".into(),
                        u.charm_dir
                            .parent()
                            .unwrap_or(&u.charm_dir)
                            .display()
                            .to_string(),
                    ),
                    ("CHARM_DIR".into(), u.charm_dir.display().to_string()),
                    ("JUJU_CHARM_DIR".into(), u.charm_dir.display().to_string()),
                    ("JUJU_CONTEXT_ID".into(), context_id.clone()),
                    (STATE_ENV.into(), state_file.display().to_string()),
                    (
                        "JUJU_DISPATCH_PATH".into(),
                        call.hook.dispatch_path(state, &app_name),
                    ),
                    ("JUJU_UNIT_NAME".into(), unit.to_owned()),
                    ("JUJU_MODEL_NAME".into(), state.name.clone()),
                    ("JUJU_MODEL_UUID".into(), state.uuid.clone()),
                    ("JUJU_VERSION".into(), state.juju_version.clone()),
                    (
                        "JUJU_AGENT_SOCKET_ADDRESS".into(),
                        format!(
                            "@/var/lib/juju/agents/unit-{}/agent.socket",
                            unit.replace('/', "-")
                        ),
                    ),
                    ("JUJU_AGENT_SOCKET_NETWORK".into(), "unix".into()),
                    ("JUJU_API_ADDRESSES".into(), "10.0.255.254:17070".into()),
                    ("JUJU_AVAILABILITY_ZONE".into(), String::new()),
                ];
                if !matches!(call.hook, Hook::Action { .. }) {
                    env.push(("JUJU_HOOK_NAME".into(), name.clone()));
                }
                if !is_k8s {
                    env.push(("JUJU_MACHINE_ID".into(), u.machine.clone()));
                }
                if let Some(principal) = &u.principal {
                    env.push(("JUJU_PRINCIPAL_UNIT".into(), principal.clone()));
                }
                env.extend(call.hook.env(state, unit));
                env.extend(app.env.iter().map(|(k, v)| (k.clone(), v.clone())));
                let relation = call.hook.relation();
                let remote_app = relation
                    .and_then(|r| state.relations.get(&r))
                    .and_then(|r| r.remote_app_of(&app_name))
                    .map(str::to_owned);
                let remote_unit = match &call.hook {
                    Hook::RelationJoined { remote, .. }
                    | Hook::RelationDeparted { remote, .. }
                    | Hook::RelationChanged {
                        remote: Some(remote),
                        ..
                    } => Some(remote.clone()),
                    _ => None,
                };
                let action = match &call.hook {
                    Hook::Action { name, id, params } => Some(ActionRun {
                        id: id.clone(),
                        name: name.clone(),
                        params: params.clone(),
                        ..Default::default()
                    }),
                    _ => None,
                };
                let storage = match &call.hook {
                    Hook::StorageAttached { storage } | Hook::StorageDetaching { storage } => {
                        Some(storage.clone())
                    }
                    _ => None,
                };
                state.hook = Some(HookContext {
                    id: context_id,
                    unit: unit.to_owned(),
                    name: name.clone(),
                    relation,
                    remote_unit,
                    remote_app,
                    storage,
                    action,
                });
                state.pending = Default::default();
                Ok(Some(Prepared {
                    name,
                    charm_dir: u.charm_dir.clone(),
                    env,
                }))
            })
    }

    /// Ends the hook: commits or drops the journal, applies the hook's own effects. Returns
    /// the triggered hooks and the action record, if it was an action.
    fn finish(
        &mut self,
        call: &HookCall,
        succeeded: bool,
    ) -> Result<(Vec<HookCall>, Option<ActionRun>), ModelError> {
        let storage_root = self.paths.storage();
        self.store.update(|state| -> Result<_, ModelError> {
            let ctx = state.hook.take();
            let journal = std::mem::take(&mut state.pending);
            let action = ctx.and_then(|c| c.action);
            if !succeeded {
                return Ok((Vec::new(), action));
            }
            let unit = call.unit.as_str();
            let mut follow = commit::apply(state, unit, journal, &storage_root);
            follow.extend(after_success(state, call));
            Ok((follow, action))
        })
    }

    // ---- operations ----

    /// `juju deploy`: one application; its units start and join peers.
    pub fn deploy(&mut self, app: &str, spec: Deploy) -> Result<(), ModelError> {
        if !crate::tools::valid_app_name(app) {
            return invalid(format!("invalid application name {app:?}"));
        }
        let charm_dir = self.install_charm(app, &spec.charm)?;
        let charm = CharmMeta::load(&charm_dir)?;
        let units = spec.units.unwrap_or(if charm.subordinate { 0 } else { 1 });
        if charm.subordinate && units > 0 {
            return invalid(format!(
                "{app} is a subordinate charm: its units come from relations, deploy it with 0 units"
            ));
        }
        let config = typed_config(&charm, &spec.config)?;
        let mut resources = std::collections::BTreeMap::new();
        for (name, path) in &spec.resources {
            if !charm.resources.contains_key(name) {
                return invalid(format!("charm {} has no resource {name:?}", charm.name));
            }
            resources.insert(name.clone(), path.clone());
        }
        let paths = self.paths.clone();
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            if state.apps.contains_key(app) {
                return invalid(format!("application {app:?} already exists"));
            }
            let peers: Vec<(String, String)> = charm
                .endpoints
                .iter()
                .filter(|(_, e)| e.role == Role::Peer)
                .map(|(n, e)| (n.clone(), e.interface.clone()))
                .collect();
            state.apps.insert(
                app.to_owned(),
                AppState {
                    name: app.to_owned(),
                    charm,
                    charm_dir,
                    config,
                    leader: None,
                    status: Status::new("unknown", ""),
                    status_history: Vec::new(),
                    units: Default::default(),
                    next_unit: 0,
                    resources,
                    env: spec.env.iter().cloned().collect(),
                },
            );
            for (endpoint, interface) in peers {
                topology::create_relation(
                    state,
                    RelationEndpoint {
                        app: app.to_owned(),
                        endpoint,
                        role: Role::Peer,
                        interface,
                    },
                    None,
                    Scope::Global,
                );
            }
            let mut created = Vec::new();
            for _ in 0..units {
                created.push(topology::create_unit(state, &paths, app, None)?);
            }
            Ok(topology::entry_hooks(state, &created))
        })?;
        self.enqueue(hooks)
    }

    /// Copies or unpacks a charm into the simulator directory.
    fn install_charm(&mut self, app: &str, source: &Path) -> Result<PathBuf, ModelError> {
        self.charm_revision += 1;
        let dest = self
            .dir
            .path()
            .join("charms")
            .join(format!("{app}-{}", self.charm_revision));
        if source.is_dir() {
            topology::copy_tree(source, &dest)?;
        } else if source.is_file() {
            std::fs::create_dir_all(&dest).map_err(|source| ModelError::Io {
                context: format!("creating {}", dest.display()),
                source,
            })?;
            crate::charm::unpack(source, &dest)?;
        } else {
            return invalid(format!("charm {} not found", source.display()));
        }
        Ok(dest)
    }

    /// `juju add-unit`: returns the new unit's name.
    pub fn add_unit(&mut self, app: &str) -> Result<String, ModelError> {
        let paths = self.paths.clone();
        let (unit, hooks) = self.store.update(|state| -> Result<_, ModelError> {
            let Some(a) = state.apps.get(app) else {
                return invalid(format!("application {app:?} not found"));
            };
            if a.charm.subordinate {
                return invalid(format!("{app} is subordinate: add units to its principal"));
            }
            let unit = topology::create_unit(state, &paths, app, None)?;
            let mut new = vec![unit.clone()];
            let rels: Vec<u32> = state.relations.keys().copied().collect();
            for rel in rels {
                new.extend(topology::ensure_subordinates(state, &paths, rel)?);
            }
            Ok((unit, topology::entry_hooks(state, &new)))
        })?;
        self.enqueue(hooks)?;
        Ok(unit)
    }

    /// `juju remove-unit` (a principal's subordinates go with it).
    pub fn remove_unit(&mut self, unit: &str) -> Result<(), ModelError> {
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            match state.unit(unit) {
                None => return invalid(format!("unit {unit:?} not found")),
                Some(u) if u.principal.is_some() => {
                    return invalid(format!(
                        "{unit} is a subordinate unit: remove its principal or the relation"
                    ));
                }
                Some(_) => {}
            }
            Ok(topology::removal_hooks(state, unit))
        })?;
        self.enqueue(hooks)
    }

    /// `juju integrate A B` (`app` or `app:endpoint`); returns the relation id.
    pub fn relate(&mut self, a: &str, b: &str) -> Result<u32, ModelError> {
        let paths = self.paths.clone();
        let (id, hooks) = self.store.update(|state| -> Result<_, ModelError> {
            let (ea, eb, scope) = topology::resolve_endpoints(state, a, b)?;
            let exists = state
                .relations
                .values()
                .any(|r| !r.dying && r.endpoints.contains(&ea) && r.endpoints.contains(&eb));
            if exists {
                return invalid(format!("relation {a} {b} already exists"));
            }
            for ep in [&ea, &eb] {
                let limit = state.apps[&ep.app].charm.endpoints[&ep.endpoint].limit;
                let used = state
                    .relations
                    .values()
                    .filter(|r| !r.dying && r.endpoints.contains(ep))
                    .count();
                if limit.is_some_and(|l| used as u32 >= l) {
                    return invalid(format!(
                        "{}:{} reached its limit of {} relations",
                        ep.app,
                        ep.endpoint,
                        limit.unwrap_or_default()
                    ));
                }
            }
            let id = topology::create_relation(state, ea, Some(eb), scope);
            let rel = state.relations[&id].clone();
            let old: Vec<String> = rel
                .endpoints
                .iter()
                .flat_map(|e| state.apps[&e.app].unit_names())
                .filter(|u| topology::participates(state, &rel, u))
                .collect();
            let mut hooks: Vec<HookCall> = old
                .iter()
                .map(|u| HookCall::new(u.clone(), Hook::RelationCreated { relation: id }))
                .collect();
            let new = topology::ensure_subordinates(state, &paths, id)?;
            hooks.extend(topology::join_hooks(state, &old, Some(id)));
            hooks.extend(topology::entry_hooks(state, &new));
            Ok((id, hooks))
        })?;
        self.enqueue(hooks)?;
        Ok(id)
    }

    /// `juju remove-relation`.
    pub fn unrelate(&mut self, relation: u32) -> Result<(), ModelError> {
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            match state.relations.get(&relation) {
                None => return invalid(format!("relation {relation} not found")),
                Some(r) if r.is_peer() => {
                    return invalid(format!("relation {relation} is a peer relation"));
                }
                Some(r) if r.dying => return invalid(format!("relation {relation} is dying")),
                Some(_) => {}
            }
            Ok(topology::unrelate_hooks(state, relation))
        })?;
        self.enqueue(hooks)
    }

    /// `juju config APP k=v ...` (values typed by the charm's config.yaml).
    pub fn config_set(&mut self, app: &str, values: &[(&str, &str)]) -> Result<(), ModelError> {
        let owned: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            let Some(a) = state.apps.get_mut(app) else {
                return invalid(format!("application {app:?} not found"));
            };
            let typed = typed_config(&a.charm, &owned)?;
            let before = a.config.clone();
            a.config.extend(typed);
            if a.config == before {
                return Ok(Vec::new());
            }
            Ok(config_changed_hooks(a))
        })?;
        self.enqueue(hooks)
    }

    /// `juju config APP --reset k ...`.
    pub fn config_reset(&mut self, app: &str, keys: &[&str]) -> Result<(), ModelError> {
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            let Some(a) = state.apps.get_mut(app) else {
                return invalid(format!("application {app:?} not found"));
            };
            let mut changed = false;
            for k in keys {
                if !a.charm.config.contains_key(*k) {
                    return invalid(format!("unknown option {k:?}"));
                }
                changed |= a.config.remove(*k).is_some();
            }
            Ok(if changed {
                config_changed_hooks(a)
            } else {
                Vec::new()
            })
        })?;
        self.enqueue(hooks)
    }

    /// `juju refresh --path`: new charm files in every unit, then `upgrade-charm` and
    /// `config-changed` (and `*-pebble-ready`: the pod restarts).
    pub fn upgrade(&mut self, app: &str, charm: impl AsRef<Path>) -> Result<(), ModelError> {
        let charm_dir = self.install_charm(app, charm.as_ref())?;
        let meta = CharmMeta::load(&charm_dir)?;
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            let Some(a) = state.apps.get_mut(app) else {
                return invalid(format!("application {app:?} not found"));
            };
            if meta.subordinate != a.charm.subordinate {
                return invalid("cannot change a charm between subordinate and principal");
            }
            let old_dir = std::mem::replace(&mut a.charm_dir, charm_dir.clone());
            a.config.retain(|k, _| meta.config.contains_key(k));
            a.charm = meta;
            let mut hooks = Vec::new();
            for unit in a.unit_names() {
                let dir = a.units[&unit].charm_dir.clone();
                replace_charm_files(&old_dir, &charm_dir, &dir)?;
                hooks.push(HookCall::new(unit.clone(), Hook::UpgradeCharm));
                hooks.push(HookCall::new(unit.clone(), Hook::ConfigChanged));
                for c in &a.charm.containers {
                    hooks.push(HookCall::new(
                        unit.clone(),
                        Hook::PebbleReady {
                            container: c.clone(),
                        },
                    ));
                }
            }
            Ok(hooks)
        })?;
        self.enqueue(hooks)
    }

    /// Makes `unit` the leader: `leader-elected` on it, `leader-settings-changed` on the
    /// others.
    pub fn set_leader(&mut self, unit: &str) -> Result<(), ModelError> {
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            if state.unit(unit).is_none() {
                return invalid(format!("unit {unit:?} not found"));
            }
            Ok(elect(state, ModelState::app_of_unit(unit), unit))
        })?;
        self.enqueue(hooks)
    }

    /// Runs `update-status` on every unit.
    pub fn update_status(&mut self) -> Result<(), ModelError> {
        let state = self.state()?;
        let hooks: Vec<HookCall> = state
            .apps
            .values()
            .flat_map(|a| a.unit_names())
            .map(|u| HookCall::new(u, Hook::UpdateStatus))
            .collect();
        self.enqueue(hooks)
    }

    /// `juju attach-resource`: `upgrade-charm` follows on every unit.
    pub fn attach_resource(
        &mut self,
        app: &str,
        name: &str,
        path: impl Into<PathBuf>,
    ) -> Result<(), ModelError> {
        let path = path.into();
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            let Some(a) = state.apps.get_mut(app) else {
                return invalid(format!("application {app:?} not found"));
            };
            if !a.charm.resources.contains_key(name) {
                return invalid(format!("charm has no resource {name:?}"));
            }
            a.resources.insert(name.to_owned(), path);
            Ok(a.unit_names()
                .into_iter()
                .map(|u| HookCall::new(u, Hook::UpgradeCharm))
                .collect::<Vec<_>>())
        })?;
        self.enqueue(hooks)
    }

    /// `juju add-secret`: a user secret with `content`; returns its URI.
    pub fn add_secret(&mut self, content: &[(&str, &str)]) -> Result<String, ModelError> {
        let bag = encode_secret(content);
        self.store.update(|state| -> Result<_, ModelError> {
            let id = crate::tools::new_secret_id(state);
            let secret = SecretState {
                id: id.clone(),
                owner: SecretOwner::Model,
                revisions: [(1, bag)].into(),
                label: None,
                description: None,
                rotate: None,
                expire: None,
                grants: Default::default(),
                consumers: Default::default(),
            };
            let uri = secret.uri();
            state.secrets.insert(id, secret);
            Ok(uri)
        })
    }

    /// `juju grant-secret URI APP`.
    pub fn grant_secret(&mut self, uri: &str, app: &str) -> Result<(), ModelError> {
        self.store.update(|state| -> Result<_, ModelError> {
            let id = crate::tools::parse_secret_uri(uri)
                .ok_or_else(|| ModelError::Invalid(format!("bad secret URI {uri:?}")))?;
            if !state.apps.contains_key(app) {
                return invalid(format!("application {app:?} not found"));
            }
            let secret = state
                .secrets
                .get_mut(&id)
                .ok_or_else(|| ModelError::Invalid(format!("secret {uri} not found")))?;
            secret.grants.insert(app.to_owned(), None);
            Ok(())
        })
    }

    /// `juju update-secret URI k=v ...`: a new revision; consumers get `secret-changed`.
    pub fn update_secret(&mut self, uri: &str, content: &[(&str, &str)]) -> Result<(), ModelError> {
        let bag = encode_secret(content);
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            let id = crate::tools::parse_secret_uri(uri)
                .ok_or_else(|| ModelError::Invalid(format!("bad secret URI {uri:?}")))?;
            if !state.secrets.contains_key(&id) {
                return invalid(format!("secret {uri} not found"));
            }
            let journal = crate::state::Journal {
                secrets: vec![crate::state::SecretChange::Update {
                    id,
                    content: Some(bag),
                    label: None,
                    description: None,
                    rotate: None,
                    expire: None,
                }],
                ..Default::default()
            };
            Ok(commit::apply(state, "", journal, Path::new("/nonexistent")))
        })?;
        self.enqueue(hooks)
    }

    /// `juju run UNIT ACTION k=v`: validates the parameters against actions.yaml (filling
    /// defaults), runs the action now, and reports how it ended.
    pub fn run_action(
        &mut self,
        unit: &str,
        action: &str,
        params: Value,
    ) -> Result<ActionOutcome, ModelError> {
        let (id, params) = self.store.update(|state| -> Result<_, ModelError> {
            let Some(app) = state.apps.get(ModelState::app_of_unit(unit)) else {
                return invalid(format!("unit {unit:?} not found"));
            };
            if state.unit(unit).is_none() {
                return invalid(format!("unit {unit:?} not found"));
            }
            let meta = app.charm.actions.get(action).ok_or_else(|| {
                ModelError::Invalid(format!("action {action:?} not defined on unit {unit:?}"))
            })?;
            let params = validate_action_params(action, meta, params)?;
            state.counters.action += 1;
            Ok((state.counters.action.to_string(), params))
        })?;
        let call = HookCall::new(
            unit,
            Hook::Action {
                name: action.to_owned(),
                id: id.clone(),
                params,
            },
        );
        let prepared = self
            .prepare(&call)?
            .ok_or_else(|| ModelError::Invalid(format!("unit {unit:?} not found")))?;
        let exit = self.dispatch(&prepared);
        let succeeded = exit.as_ref().is_ok_and(Exit::success);
        let (follow, run) = self.finish(&call, succeeded)?;
        let exit =
            exit.map_err(|reason| hook_failed(&call, reason, String::new(), String::new()))?;
        let run = run.unwrap_or_default();
        let record = HookRecord {
            call,
            name: prepared.name,
            exit: exit.clone(),
        };
        self.history.push(record.clone());
        let (status, message) = if !exit.success() {
            let code = exit
                .code
                .map_or("killed".to_owned(), |c| format!("exit status {c}"));
            (ActionStatus::Failed, Some(run.message.unwrap_or(code)))
        } else if run.failed {
            (ActionStatus::Failed, run.message)
        } else {
            (ActionStatus::Completed, None)
        };
        self.enqueue(follow)?;
        Ok(ActionOutcome {
            id,
            status,
            message,
            results: run.results,
            log: run.log,
            record,
        })
    }

    // ---- inspection ----

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

    /// `juju-log` lines from `unit`.
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

    /// The unit's charm directory (the hooks' cwd).
    pub fn charm_dir(&self, unit: &str) -> PathBuf {
        self.paths.unit_charm(unit)
    }

    /// The path of the state file (for debugging a failing test).
    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join(STATE_FILE)
    }
}

/// A hook context opened by [`Model::open_hook`].
pub struct OpenHook<'m> {
    model: &'m mut Model,
    call: HookCall,
    prepared: Prepared,
}

impl OpenHook<'_> {
    /// The environment a charm would get in this hook.
    pub fn env(&self) -> &[(String, String)] {
        &self.prepared.env
    }

    /// Runs hook tool `name` as the charm would (the real executable, this hook's
    /// environment, the unit's charm directory as cwd).
    pub fn tool(&self, name: &str, args: &[&str]) -> Result<Exit, ModelError> {
        self.tool_with_stdin(name, args, b"")
    }

    pub fn tool_with_stdin(
        &self,
        name: &str,
        args: &[&str],
        stdin: &[u8],
    ) -> Result<Exit, ModelError> {
        process::run(process::Spec {
            program: &self.model.bin_dir.join(name),
            args,
            cwd: &self.prepared.charm_dir,
            env: &self.prepared.env,
            stdin: Some(stdin),
            limit: self.model.hook_timeout,
        })
        .map_err(ModelError::Invalid)
    }

    /// Ends the hook as if `dispatch` exited with `code`: 0 commits its journal and queues
    /// the hooks that triggers (without running them), anything else drops it.
    pub fn close(self, code: i32) -> Result<(), ModelError> {
        let (follow, _) = self.model.finish(&self.call, code == 0)?;
        let auto = std::mem::replace(&mut self.model.auto_settle, false);
        let queued = self.model.enqueue(follow);
        self.model.auto_settle = auto;
        queued
    }
}

/// What `prepare` hands to the process runner.
struct Prepared {
    name: String,
    charm_dir: PathBuf,
    env: Vec<(String, String)>,
}

/// Secret content as Juju stores it: values base64-encoded.
fn encode_secret(content: &[(&str, &str)]) -> Bag {
    use base64::Engine as _;
    content
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                base64::engine::general_purpose::STANDARD.encode(v),
            )
        })
        .collect()
}

fn config_changed_hooks(app: &AppState) -> Vec<HookCall> {
    app.unit_names()
        .into_iter()
        .map(|u| HookCall::new(u, Hook::ConfigChanged))
        .collect()
}

/// The effects of a successful hook on the model itself.
fn after_success(state: &mut ModelState, call: &HookCall) -> Vec<HookCall> {
    let unit = call.unit.as_str();
    match &call.hook {
        Hook::Install => {
            if let Some(u) = state.unit_mut(unit)
                && (u.status.status.as_str(), u.status.message.as_str()) == topology::INSTALLING
            {
                u.status = Status::new("unknown", "");
                u.status_history.push(u.status.clone());
            }
            Vec::new()
        }
        Hook::Start => {
            if let Some(u) = state.unit_mut(unit) {
                u.started = true;
            }
            Vec::new()
        }
        Hook::RelationBroken { relation } => {
            if let Some(rel) = state.relations.get_mut(relation) {
                rel.created.remove(unit);
                rel.members.remove(unit);
                if rel.dying && rel.created.is_empty() {
                    state.relations.remove(relation);
                    for secret in state.secrets.values_mut() {
                        secret.grants.retain(|_, r| *r != Some(*relation));
                    }
                }
            }
            Vec::new()
        }
        Hook::Remove => remove_unit_state(state, unit),
        _ => Vec::new(),
    }
}

/// Deletes a removed unit; a new leader is elected if it led.
fn remove_unit_state(state: &mut ModelState, unit: &str) -> Vec<HookCall> {
    let app_name = ModelState::app_of_unit(unit).to_owned();
    for rel in state.relations.values_mut() {
        rel.created.remove(unit);
        rel.members.remove(unit);
        for seen in rel.members.values_mut() {
            seen.remove(unit);
        }
    }
    let Some(app) = state.apps.get_mut(&app_name) else {
        return Vec::new();
    };
    app.units.remove(unit);
    if app.leader.as_deref() != Some(unit) {
        return Vec::new();
    }
    app.leader = None;
    match app.unit_names().first().cloned() {
        Some(next) => elect(state, &app_name, &next),
        None => Vec::new(),
    }
}

fn elect(state: &mut ModelState, app: &str, unit: &str) -> Vec<HookCall> {
    let Some(a) = state.apps.get_mut(app) else {
        return Vec::new();
    };
    a.leader = Some(unit.to_owned());
    a.unit_names()
        .into_iter()
        .map(|u| {
            let hook = if u == unit {
                Hook::LeaderElected
            } else {
                Hook::LeaderSettingsChanged
            };
            HookCall::new(u, hook)
        })
        .collect()
}

/// Converts `juju config` strings to the option types; unknown keys and bad values are
/// refused with the option's name.
fn typed_config(
    charm: &CharmMeta,
    values: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, Value>, ModelError> {
    let mut out = std::collections::BTreeMap::new();
    for (key, raw) in values {
        let Some(option) = charm.config.get(key) else {
            return invalid(format!("unknown option {key:?} for charm {}", charm.name));
        };
        let bad =
            |t: &str| ModelError::Invalid(format!("option {key:?}: expected {t}, got {raw:?}"));
        let value = match option.kind {
            OptionType::String | OptionType::Secret => Value::String(raw.clone()),
            OptionType::Int => Value::from(raw.trim().parse::<i64>().map_err(|_| bad("int"))?),
            OptionType::Float => Value::from(raw.trim().parse::<f64>().map_err(|_| bad("float"))?),
            OptionType::Boolean => Value::Bool(match raw.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(bad("boolean")),
            }),
        };
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// Checks action parameters against the schema's top level (types, required keys,
/// `additionalProperties`) and fills defaults, as the controller does before queueing.
fn validate_action_params(
    action: &str,
    meta: &crate::charm::ActionMeta,
    params: Value,
) -> Result<serde_json::Map<String, Value>, ModelError> {
    let mut params = match params {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m,
        other => {
            return invalid(format!(
                "action {action}: parameters must be a map, got {other}"
            ));
        }
    };
    for key in params.keys() {
        if !meta.params.contains_key(key) && !meta.additional_properties {
            return invalid(format!(
                "validation failed: (root) : additional property \"{key}\" is not allowed, given {{\"{key}\": ...}}"
            ));
        }
    }
    for (key, schema) in &meta.params {
        match params.get(key) {
            Some(value) => {
                let expected = schema.get("type").and_then(Value::as_str);
                let fits = match expected {
                    Some("string") => value.is_string(),
                    Some("integer") => value.is_i64() || value.is_u64(),
                    Some("number") => value.is_number(),
                    Some("boolean") => value.is_boolean(),
                    Some("array") => value.is_array(),
                    Some("object") => value.is_object(),
                    _ => true,
                };
                if !fits {
                    return invalid(format!(
                        "validation failed: (root).{key} : invalid type. Expected: {}, given: {value}",
                        expected.unwrap_or("?")
                    ));
                }
            }
            None => {
                if let Some(default) = schema.get("default") {
                    params.insert(key.clone(), default.clone());
                }
            }
        }
    }
    for key in &meta.required {
        if !params.contains_key(key) {
            return invalid(format!(
                "validation failed: (root) : \"{key}\" property is missing"
            ));
        }
    }
    Ok(params)
}

/// Replaces the files of `old` charm in `unit_dir` by those of `new`, keeping files the
/// charm wrote itself (as Juju's charm deployer does).
fn replace_charm_files(old: &Path, new: &Path, unit_dir: &Path) -> Result<(), ModelError> {
    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    files(root, &p, out);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_owned());
                }
            }
        }
    }
    let mut old_files = Vec::new();
    files(old, old, &mut old_files);
    for rel in old_files {
        let _ = std::fs::remove_file(unit_dir.join(rel));
    }
    topology::copy_tree(new, unit_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action_meta(params: Value, required: &[&str], additional: bool) -> crate::charm::ActionMeta {
        crate::charm::ActionMeta {
            params: params.as_object().cloned().unwrap_or_default(),
            required: required.iter().map(|s| s.to_string()).collect(),
            additional_properties: additional,
        }
    }

    #[test]
    fn action_params_are_checked_and_defaulted() {
        let meta = action_meta(
            json!({"target": {"type": "string"}, "count": {"type": "integer", "default": 3}}),
            &["target"],
            false,
        );
        let ok = validate_action_params("a", &meta, json!({"target": "x"})).unwrap();
        assert_eq!(Value::Object(ok), json!({"target": "x", "count": 3}));
        assert!(validate_action_params("a", &meta, json!({})).is_err());
        assert!(validate_action_params("a", &meta, json!({"target": 1})).is_err());
        assert!(validate_action_params("a", &meta, json!({"target": "x", "extra": 1})).is_err());
    }

    #[test]
    fn config_values_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metadata.yaml"), "name: c\n").unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "options:\n  n: {type: int}\n  b: {type: boolean}\n  s: {type: string}\n",
        )
        .unwrap();
        let charm = CharmMeta::load(dir.path()).unwrap();
        let kv = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(typed_config(&charm, &kv("n", "5")).unwrap()["n"], json!(5));
        assert_eq!(
            typed_config(&charm, &kv("b", "true")).unwrap()["b"],
            json!(true)
        );
        assert_eq!(typed_config(&charm, &kv("s", "")).unwrap()["s"], json!(""));
        let err = typed_config(&charm, &kv("n", "five"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"n\"") && err.contains("five"), "{err}");
        assert!(typed_config(&charm, &kv("nope", "1")).is_err());
    }
}
