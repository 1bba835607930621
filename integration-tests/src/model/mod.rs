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
//! Settling follows the [`Schedule`] set with [`Model::set_schedule`]: queue order (the
//! default), every hook twice, or a seeded shuffle among the orders Juju allows. Tests that
//! want one particular order turn auto-settle off, inspect or reorder [`Model::queue_mut`],
//! run any hook again with [`Model::run`], then [`Model::settle`].
//!
//! Kubernetes units get a fake Pebble per workload container ([`Model::pebble`]), started
//! before their first hook and restarted by [`Model::upgrade`], as their pod is.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::charm::CharmError;
use crate::state::{ActionRun, HookContext, LogLine, ModelState};
use crate::store::{Store, StoreError};
use crate::tools::STATE_ENV;

mod commit;
pub mod hook;
mod inspect;
mod ops;
mod process;
mod schedule;
mod topology;
mod workload;

pub use hook::{Hook, HookCall};
pub use process::Exit;
use schedule::Scheduler;
pub use schedule::{Schedule, same_end_state};
use topology::Paths;
use workload::Workloads;

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
    scheduler: Scheduler,
    workloads: Workloads,
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
            scheduler: Scheduler::new(Schedule::InOrder),
            workloads: Workloads::default(),
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

    /// How settling orders the queue from now on (see [`Schedule`]).
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.scheduler = Scheduler::new(schedule);
    }

    pub fn schedule(&self) -> Schedule {
        self.scheduler.schedule()
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

    /// Runs queued hooks until none are left, in the order the [`Schedule`] picks; stops at
    /// the first failing hook, which stays queued.
    pub fn settle(&mut self) -> Result<(), ModelError> {
        let mut ran = 0;
        while let Some(call) = self.next_call()? {
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
            let state = if self.scheduler.needs_state() {
                Some(self.state()?)
            } else {
                None
            };
            let extra = self
                .scheduler
                .after_success(&call, &self.queue, state.as_ref());
            for call in extra.into_iter().rev() {
                self.queue.push_front(call);
            }
        }
        Ok(())
    }

    fn next_call(&mut self) -> Result<Option<HookCall>, ModelError> {
        if self.queue.is_empty() {
            return Ok(None);
        }
        let state = if self.scheduler.needs_state() {
            Some(self.state()?)
        } else {
            None
        };
        Ok(self.scheduler.next(&mut self.queue, state.as_ref()))
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
        let (follow, _) = self.finish(call, succeeded, exit.as_ref().ok())?;
        if succeeded && call.hook == Hook::Remove {
            self.workloads.stop_unit(&call.unit);
        }
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

    fn dispatch(&mut self, prepared: &Prepared) -> Result<Exit, String> {
        if let Some(pebble) = &prepared.pebble {
            self.workloads
                .ensure(&pebble.unit, &pebble.containers, &pebble.base)
                .map_err(|e| e.to_string())?;
        }
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
        if let Some(pebble) = &prepared.pebble {
            self.workloads
                .ensure(&pebble.unit, &pebble.containers, &pebble.base)?;
        }
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
        let paths = self.paths.clone();
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
                let pebble = is_k8s.then(|| PebbleSockets {
                    unit: unit.to_owned(),
                    containers: app.charm.containers.clone(),
                    base: paths.unit_containers(unit),
                });
                if let Some(pebble) = &pebble {
                    env.push((
                        charm_core::PEBBLE_SOCKET_BASE_VAR.into(),
                        pebble.base.display().to_string(),
                    ));
                } else {
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
                    pebble,
                }))
            })
    }

    /// Ends the hook: commits or drops the journal, applies the hook's own effects. Returns
    /// the triggered hooks and the action record, if it was an action.
    fn finish(
        &mut self,
        call: &HookCall,
        succeeded: bool,
        output: Option<&Exit>,
    ) -> Result<(Vec<HookCall>, Option<ActionRun>), ModelError> {
        let storage_root = self.paths.storage();
        self.store.update(|state| -> Result<_, ModelError> {
            if let Some(exit) = output {
                record_output(state, &call.unit, exit);
            }
            let ctx = state.hook.take();
            let journal = std::mem::take(&mut state.pending);
            let action = ctx.and_then(|c| c.action);
            if !succeeded {
                return Ok((Vec::new(), action));
            }
            let unit = call.unit.as_str();
            let mut follow = commit::apply(state, unit, journal, &storage_root);
            follow.extend(commit::after_success(state, call));
            Ok((follow, action))
        })
    }
}

/// Juju's unit agent records every line a hook prints in the model log, failed or not: stdout
/// at DEBUG, stderr at WARNING.
fn record_output(state: &mut ModelState, unit: &str, exit: &Exit) {
    for (text, level) in [(&exit.stdout, "DEBUG"), (&exit.stderr, "WARNING")] {
        state.log.extend(text.lines().map(|line| LogLine {
            unit: unit.to_owned(),
            level: level.to_owned(),
            message: line.to_owned(),
        }));
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
        let (follow, _) = self.model.finish(&self.call, code == 0, None)?;
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
    /// The Pebble sockets a Kubernetes unit's hook needs.
    pebble: Option<PebbleSockets>,
}

/// A Kubernetes unit's workload containers and where their sockets go.
struct PebbleSockets {
    unit: String,
    containers: Vec<String>,
    base: PathBuf,
}
