//! The only door to Juju: one method per hook tool.
//!
//! [`crate::hooktool::HookTools`] runs the real tools as subprocesses; the testing harness has
//! an in-memory implementation. The trait is deliberately thin (one call = one tool run, no
//! caching, no permission checks): caching, buffering and ops' permission rules live in
//! [`crate::Model`], so they behave the same over every backend and the testing backend counts
//! exactly the calls production would make.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::StorageId;
use crate::event::RelationId;
use crate::network::{Network, Port};
use crate::secret::{SecretGet, SecretInfo, SecretSpec};
use crate::status::Status;

/// The level of a `juju-log` call (`--log-level`): Juju records the message at this level
/// in the model's log, and both the model's `logging-config` (what is stored) and
/// `juju debug-log --level` (what is shown) filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detail for whoever debugs the charm; Juju drops it unless `logging-config` asks for
    /// `DEBUG` (the default is `INFO`).
    Debug,
    /// What the charm did, for the operator.
    Info,
    /// Something the operator should look at (bad config, a retry).
    Warning,
    /// A failure, e.g. the error that ends a hook.
    Error,
}

impl LogLevel {
    /// The name `juju-log --log-level` takes: `DEBUG`, `INFO`, `WARNING`, `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relation as hook tools address it: `-r endpoint:id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationRef<'a> {
    /// The endpoint name from `metadata.yaml` (`backup`).
    pub endpoint: &'a str,
    /// Juju's id of the relation (the `1` of `backup:1`).
    pub id: RelationId,
}

impl std::fmt::Display for RelationRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

/// Where a storage instance is mounted (`storage-get`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// `filesystem` or `block`, as `metadata.yaml` declares the storage.
    pub kind: String,
    /// Where it is: the mount point of a filesystem, the device of a block storage.
    pub location: PathBuf,
}

/// `goal-state`: the units and relations Juju is working towards.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GoalState {
    /// Unit name -> goal status (`active`, `waiting`, `dying`, ...).
    pub units: BTreeMap<String, String>,
    /// Endpoint -> application or unit name -> goal status.
    pub relations: BTreeMap<String, BTreeMap<String, String>>,
}

impl GoalState {
    /// Units that are or will be running: every unit not dying (ops' `planned_units`).
    pub fn planned_units(&self) -> usize {
        self.units.values().filter(|s| *s != "dying").count()
    }
}

/// A hook tool call that did not succeed. The variants a charm may act on are the ones Juju's
/// error text identifies (a relation or secret that is gone, a leader-only call on a
/// non-leader); everything else carries the command line and Juju's stderr for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The tool is not on `PATH`: the process is not running inside a Juju hook.
    #[error("hook tool `{tool}` is not on PATH (is this running inside a Juju hook?)")]
    ToolMissing {
        /// The tool's name, e.g. `config-get`.
        tool: String,
    },
    /// The tool is there but could not be started (permissions, resource limits).
    #[error("cannot run hook tool `{tool}`: {reason}")]
    Spawn {
        /// The tool's name.
        tool: String,
        /// The operating system's error.
        reason: String,
    },
    /// Juju no longer knows the relation (it was removed while the hook ran, or the id is
    /// wrong): usually the hook should carry on without it.
    #[error("relation {relation} not found: {stderr}")]
    RelationNotFound {
        /// The relation as `endpoint:id`.
        relation: String,
        /// What the tool printed.
        stderr: String,
    },
    /// Juju refused the call, e.g. reading another application's secret without a grant.
    #[error("permission denied: `{command}`: {stderr}")]
    PermissionDenied {
        /// The command line that was refused.
        command: String,
        /// What the tool printed.
        stderr: String,
    },
    /// A leader-only call (application bag, application status) made by a unit that is not,
    /// or no longer, the leader.
    #[error("this unit is not the leader: `{command}`: {stderr}")]
    NotLeader {
        /// The command line that was refused.
        command: String,
        /// What the tool printed.
        stderr: String,
    },
    /// The secret does not exist (any more), or this unit may not see it.
    #[error("secret {secret} not found: {stderr}")]
    SecretNotFound {
        /// The secret id or label asked for.
        secret: String,
        /// What the tool printed.
        stderr: String,
    },
    /// The tool exited non-zero for another reason.
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed {
        /// The command line.
        command: String,
        /// How it exited, e.g. `exit status: 1`.
        status: String,
        /// What the tool printed.
        stderr: String,
    },
    /// The tool succeeded but its output is not what this Juju version should print (a bug
    /// in the tool, or a Juju too new or too old): the hook fails rather than guess.
    #[error("`{command}` printed unexpected output ({reason}): {output}")]
    Malformed {
        /// The command line.
        command: String,
        /// What did not parse.
        reason: String,
        /// The output, as printed.
        output: String,
    },
    /// The backend cannot do this (the testing backend for a tool it does not simulate).
    #[error("{0} is not supported by this backend")]
    Unsupported(String),
}

/// One method per hook tool; each method's doc gives the exact command line.
pub trait Backend {
    /// `config-get --format=json`
    fn config_get(&mut self) -> Result<Map<String, Value>, BackendError>;
    /// `is-leader --format=json`
    fn is_leader(&mut self) -> Result<bool, BackendError>;
    /// `relation-ids EP --format=json`
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError>;
    /// `relation-list --format=json -r EP:ID`: the remote units.
    fn relation_list(&mut self, relation: RelationRef<'_>) -> Result<Vec<String>, BackendError>;
    /// `relation-list --format=json -r EP:ID --app`: the remote application.
    fn relation_remote_app(
        &mut self,
        relation: RelationRef<'_>,
    ) -> Result<Option<String>, BackendError>;
    /// `relation-get --format=json -r EP:ID [--app] - MEMBER`
    fn relation_get(
        &mut self,
        relation: RelationRef<'_>,
        member: &str,
        app: bool,
    ) -> Result<BTreeMap<String, String>, BackendError>;
    /// `relation-set -r EP:ID [--app] --file -`, the changes as a JSON mapping on stdin (an
    /// empty value deletes the key).
    fn relation_set(
        &mut self,
        relation: RelationRef<'_>,
        app: bool,
        changes: &BTreeMap<String, String>,
    ) -> Result<(), BackendError>;
    /// `status-get --include-data --format=json --application=BOOL`; `None` for Juju-only
    /// statuses (unknown, error).
    fn status_get(&mut self, app: bool) -> Result<Option<Status>, BackendError>;
    /// `status-set --application=True|False STATUS -- MESSAGE`
    fn status_set(&mut self, app: bool, status: &Status) -> Result<(), BackendError>;
    /// `application-version-set -- VERSION`
    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError>;
    /// `juju-log --log-level LEVEL -- MESSAGE`
    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError>;
    /// `action-get --format=json`
    fn action_get(&mut self) -> Result<Map<String, Value>, BackendError>;
    /// `action-set k=v ...` (keys already flattened with `.`)
    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError>;
    /// `action-log -- MESSAGE`
    fn action_log(&mut self, message: &str) -> Result<(), BackendError>;
    /// `action-fail -- MESSAGE`
    fn action_fail(&mut self, message: &str) -> Result<(), BackendError>;
    /// `network-get --format=json [-r ID] BINDING`
    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<Network, BackendError>;
    /// `goal-state --format=json`
    fn goal_state(&mut self) -> Result<GoalState, BackendError>;
    /// `resource-get NAME`: the path of the fetched resource file.
    fn resource_get(&mut self, name: &str) -> Result<PathBuf, BackendError>;
    /// `opened-ports --format=json`
    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError>;
    /// `open-port PORT/PROTO`
    fn open_port(&mut self, port: &Port) -> Result<(), BackendError>;
    /// `close-port PORT/PROTO`
    fn close_port(&mut self, port: &Port) -> Result<(), BackendError>;
    /// `secret-add [--label L] [--description D] [--expire E] [--rotate R] --owner O
    /// key#file=PATH ...`: the new secret's id.
    fn secret_add(&mut self, spec: &SecretSpec) -> Result<String, BackendError>;
    /// `secret-get --format=json ID [--label L] [--refresh|--peek]`
    fn secret_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, BackendError>;
    /// `secret-info-get --format=json ID` (or `--label L`)
    fn secret_info_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
    ) -> Result<SecretInfo, BackendError>;
    /// `secret-set [--label ...] ID key#file=PATH ...`
    fn secret_set(&mut self, id: &str, spec: &SecretSpec) -> Result<(), BackendError>;
    /// `secret-grant --relation ID [--unit U] SECRET`
    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError>;
    /// `secret-revoke --relation ID [--unit U] SECRET`
    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError>;
    /// `secret-remove ID [--revision N]`
    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError>;
    /// `storage-list --format=json [NAME]`
    fn storage_list(&mut self, name: Option<&str>) -> Result<Vec<StorageId>, BackendError>;
    /// `storage-get --format=json -s NAME/IDX`
    fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, BackendError>;
    /// `state-get --format=json`: all of the unit's controller-side state.
    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError>;
    /// `state-set --file -` (a JSON mapping on stdin, so values never reach argv).
    fn state_set(&mut self, values: &BTreeMap<String, String>) -> Result<(), BackendError>;
    /// `state-delete KEY`
    fn state_delete(&mut self, key: &str) -> Result<(), BackendError>;
}
