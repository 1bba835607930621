//! The hooks the driver can run, and what each looks like to the charm: its name, its
//! `JUJU_DISPATCH_PATH` and the `JUJU_*` variables that go with it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::state::ModelState;

/// A hook (or action) for one unit. Relation hooks carry the relation id; the endpoint name
/// in the hook name is the unit's own endpoint in that relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hook {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    LeaderElected,
    LeaderSettingsChanged,
    RelationCreated {
        relation: u32,
    },
    RelationJoined {
        relation: u32,
        remote: String,
    },
    /// `remote: None` is a change of the remote application's data.
    RelationChanged {
        relation: u32,
        remote: Option<String>,
    },
    RelationDeparted {
        relation: u32,
        remote: String,
        departing: String,
    },
    RelationBroken {
        relation: u32,
    },
    StorageAttached {
        storage: String,
    },
    StorageDetaching {
        storage: String,
    },
    PebbleReady {
        container: String,
    },
    SecretChanged {
        uri: String,
    },
    /// An action; the driver fills the id and validated parameters.
    Action {
        name: String,
        id: String,
        params: serde_json::Map<String, serde_json::Value>,
    },
}

/// A hook queued or run for a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookCall {
    pub unit: String,
    pub hook: Hook,
}

impl HookCall {
    pub fn new(unit: impl Into<String>, hook: Hook) -> Self {
        HookCall {
            unit: unit.into(),
            hook,
        }
    }
}

impl fmt::Display for HookCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.unit, self.hook.label())
    }
}

impl Hook {
    /// The relation this hook is about.
    pub fn relation(&self) -> Option<u32> {
        match self {
            Hook::RelationCreated { relation }
            | Hook::RelationJoined { relation, .. }
            | Hook::RelationChanged { relation, .. }
            | Hook::RelationDeparted { relation, .. }
            | Hook::RelationBroken { relation } => Some(*relation),
            _ => None,
        }
    }

    /// A short label for logs and errors (relation hooks show their relation id).
    pub fn label(&self) -> String {
        match self {
            Hook::RelationCreated { relation } => format!("relation-created ({relation})"),
            Hook::RelationJoined { relation, remote } => {
                format!("relation-joined ({relation}, {remote})")
            }
            Hook::RelationChanged { relation, remote } => format!(
                "relation-changed ({relation}, {})",
                remote.as_deref().unwrap_or("app")
            ),
            Hook::RelationDeparted {
                relation, remote, ..
            } => format!("relation-departed ({relation}, {remote})"),
            Hook::RelationBroken { relation } => format!("relation-broken ({relation})"),
            Hook::Action { name, .. } => format!("action {name}"),
            other => other.fixed_name().unwrap_or("?").to_owned(),
        }
    }

    fn fixed_name(&self) -> Option<&'static str> {
        Some(match self {
            Hook::Install => "install",
            Hook::Start => "start",
            Hook::Stop => "stop",
            Hook::Remove => "remove",
            Hook::ConfigChanged => "config-changed",
            Hook::UpgradeCharm => "upgrade-charm",
            Hook::UpdateStatus => "update-status",
            Hook::LeaderElected => "leader-elected",
            Hook::LeaderSettingsChanged => "leader-settings-changed",
            Hook::SecretChanged { .. } => "secret-changed",
            _ => return None,
        })
    }

    /// The hook name Juju uses (`backup-relation-changed`), given the unit's app.
    pub fn name(&self, state: &ModelState, app: &str) -> String {
        if let Some(fixed) = self.fixed_name() {
            return fixed.to_owned();
        }
        let endpoint = |rel: &u32| {
            state
                .relations
                .get(rel)
                .and_then(|r| r.endpoint_of(app))
                .map_or_else(|| "unknown".to_owned(), |e| e.endpoint.clone())
        };
        let storage_name = |id: &str| id.split('/').next().unwrap_or(id).to_owned();
        match self {
            Hook::RelationCreated { relation } => {
                format!("{}-relation-created", endpoint(relation))
            }
            Hook::RelationJoined { relation, .. } => {
                format!("{}-relation-joined", endpoint(relation))
            }
            Hook::RelationChanged { relation, .. } => {
                format!("{}-relation-changed", endpoint(relation))
            }
            Hook::RelationDeparted { relation, .. } => {
                format!("{}-relation-departed", endpoint(relation))
            }
            Hook::RelationBroken { relation } => format!("{}-relation-broken", endpoint(relation)),
            Hook::StorageAttached { storage } => {
                format!("{}-storage-attached", storage_name(storage))
            }
            Hook::StorageDetaching { storage } => {
                format!("{}-storage-detaching", storage_name(storage))
            }
            Hook::PebbleReady { container } => format!("{container}-pebble-ready"),
            Hook::Action { name, .. } => name.clone(),
            _ => unreachable!("fixed names handled above"),
        }
    }

    /// `JUJU_DISPATCH_PATH`.
    pub fn dispatch_path(&self, state: &ModelState, app: &str) -> String {
        match self {
            Hook::Action { name, .. } => format!("actions/{name}"),
            other => format!("hooks/{}", other.name(state, app)),
        }
    }

    /// The hook-specific `JUJU_*` variables.
    pub fn env(&self, state: &ModelState, unit: &str) -> Vec<(String, String)> {
        let app = ModelState::app_of_unit(unit);
        let mut env = Vec::new();
        let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
        if let Some(rel_id) = self.relation()
            && let Some(rel) = state.relations.get(&rel_id)
        {
            if let Some(ep) = rel.endpoint_of(app) {
                set("JUJU_RELATION", ep.endpoint.clone());
                set("JUJU_RELATION_ID", format!("{}:{rel_id}", ep.endpoint));
            }
            if let Some(remote_app) = rel.remote_app_of(app) {
                set("JUJU_REMOTE_APP", remote_app.to_owned());
            }
        }
        match self {
            Hook::RelationJoined { remote, .. }
            | Hook::RelationChanged {
                remote: Some(remote),
                ..
            } => set("JUJU_REMOTE_UNIT", remote.clone()),
            // Juju 3 sets it, empty, for every relation hook without a remote unit (a change
            // of the remote application's bag, created, broken): charms must cope.
            Hook::RelationCreated { .. }
            | Hook::RelationBroken { .. }
            | Hook::RelationChanged { remote: None, .. } => set("JUJU_REMOTE_UNIT", String::new()),
            Hook::RelationDeparted {
                remote, departing, ..
            } => {
                set("JUJU_REMOTE_UNIT", remote.clone());
                set("JUJU_DEPARTING_UNIT", departing.clone());
            }
            Hook::StorageAttached { storage } | Hook::StorageDetaching { storage } => {
                set("JUJU_STORAGE_ID", storage.clone());
            }
            Hook::PebbleReady { container } => set("JUJU_WORKLOAD_NAME", container.clone()),
            Hook::SecretChanged { uri } => {
                set("JUJU_SECRET_ID", uri.clone());
                let id = uri.trim_start_matches("secret:");
                if let Some(secret) = state.secrets.get(id) {
                    let label = secret
                        .consumers
                        .get(unit)
                        .and_then(|c| c.label.clone())
                        .unwrap_or_default();
                    set("JUJU_SECRET_LABEL", label);
                    set("JUJU_SECRET_REVISION", secret.latest().to_string());
                }
            }
            Hook::Action { name, id, .. } => {
                set("JUJU_ACTION_NAME", name.clone());
                set("JUJU_ACTION_UUID", id.clone());
            }
            _ => {}
        }
        env
    }
}
