//! The simulated model, as stored in the state file both the driver and the hook tools read.
//!
//! Everything is plain data with serde derives: the driver is the only writer of topology
//! (applications, units, relations, leadership, config); hook tools write only the unit-side
//! facts Juju lets a hook write, and those that Juju applies transactionally go into the
//! [`Journal`] of the running hook, not into the model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::charm::{CharmMeta, Role, Scope, StorageKind};

/// A data bag: Juju relation data is a flat string to string map.
pub type Bag = BTreeMap<String, String>;

/// The whole model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelState {
    pub name: String,
    pub uuid: String,
    pub juju_version: String,
    pub apps: BTreeMap<String, AppState>,
    pub relations: BTreeMap<u32, RelationState>,
    pub secrets: BTreeMap<String, SecretState>,
    /// The hook running now, if any: tools refuse to work outside it.
    pub hook: Option<HookContext>,
    /// Changes the running hook made that Juju applies only when the hook succeeds.
    pub pending: Journal,
    /// Everything units sent with `juju-log`, and every line their hooks printed (stdout at
    /// DEBUG, stderr at WARNING), as Juju's model log holds them.
    pub log: Vec<LogLine>,
    pub counters: Counters,
}

/// Monotonic counters for ids Juju hands out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub relation: u32,
    pub action: u32,
    pub secret: u64,
    pub context: u64,
    pub machine: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppState {
    pub name: String,
    pub charm: CharmMeta,
    /// The unpacked charm every unit copies at deploy and upgrade.
    pub charm_dir: PathBuf,
    /// Values set by `juju config`; defaults live in `charm.config`.
    pub config: BTreeMap<String, serde_json::Value>,
    pub leader: Option<String>,
    pub status: Status,
    pub status_history: Vec<Status>,
    pub units: BTreeMap<String, UnitState>,
    pub next_unit: u32,
    /// Resource name to the file `resource-get` hands out.
    pub resources: BTreeMap<String, PathBuf>,
    /// Extra environment for this application's hooks (test knobs such as a script directory).
    pub env: BTreeMap<String, String>,
}

impl AppState {
    /// Units in creation order (`app/2` before `app/10`).
    pub fn unit_names(&self) -> Vec<String> {
        let mut names: Vec<&UnitState> = self.units.values().collect();
        names.sort_by_key(|u| u.number);
        names.into_iter().map(|u| u.name.clone()).collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UnitState {
    pub name: String,
    pub number: u32,
    /// The principal unit this subordinate runs beside.
    pub principal: Option<String>,
    pub machine: String,
    pub address: String,
    /// The unit's own copy of the charm: hooks run with this as cwd.
    pub charm_dir: PathBuf,
    pub status: Status,
    pub status_history: Vec<Status>,
    pub workload_version: String,
    pub ports: BTreeSet<OpenedPort>,
    pub charm_state: BTreeMap<String, String>,
    pub storage: BTreeMap<String, StorageInstance>,
    /// Set once `start` has run.
    pub started: bool,
    /// Set when its removal is queued: `goal-state` reports it `dying`.
    #[serde(default)]
    pub dying: bool,
}

/// A workload status as `status-set` records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub status: String,
    pub message: String,
}

impl Status {
    pub fn new(status: &str, message: &str) -> Self {
        Status {
            status: status.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenedPort {
    /// Empty means every endpoint.
    pub endpoint: String,
    pub range: PortRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    pub protocol: Protocol,
    pub from: u16,
    pub to: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.protocol {
            Protocol::Icmp => f.write_str("icmp"),
            p => {
                let proto = if p == Protocol::Tcp { "tcp" } else { "udp" };
                if self.from == self.to {
                    write!(f, "{}/{proto}", self.from)
                } else {
                    write!(f, "{}-{}/{proto}", self.from, self.to)
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInstance {
    pub kind: StorageKind,
    pub location: PathBuf,
}

/// One relation between two applications (or a peer relation of one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelationState {
    pub id: u32,
    /// One endpoint for peers, two otherwise.
    pub endpoints: Vec<RelationEndpoint>,
    pub scope: Scope,
    pub app_data: BTreeMap<String, Bag>,
    pub unit_data: BTreeMap<String, Bag>,
    /// For each unit: the remote units it has seen join (what `relation-list` prints).
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Units that have run `relation-created` (are in scope for application data changes).
    pub created: BTreeSet<String>,
    /// Set once the relation is being removed: `relation-broken` is running or queued.
    pub dying: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationEndpoint {
    pub app: String,
    pub endpoint: String,
    pub role: Role,
    pub interface: String,
}

impl RelationState {
    pub fn is_peer(&self) -> bool {
        self.endpoints.len() == 1
    }

    /// The endpoint of `app` in this relation.
    pub fn endpoint_of(&self, app: &str) -> Option<&RelationEndpoint> {
        self.endpoints.iter().find(|e| e.app == app)
    }

    /// The application on the other side from `app` (itself for peers).
    pub fn remote_app_of(&self, app: &str) -> Option<&str> {
        if self.is_peer() {
            return self.endpoints.first().map(|e| e.app.as_str());
        }
        self.endpoint_of(app)?;
        self.endpoints
            .iter()
            .find(|e| e.app != app)
            .map(|e| e.app.as_str())
    }

    /// Juju's relation key, e.g. `wordpress:db mysql:server` (requirer first).
    pub fn key(&self) -> String {
        let mut eps: Vec<&RelationEndpoint> = self.endpoints.iter().collect();
        eps.sort_by_key(|e| match e.role {
            Role::Requirer => 0,
            Role::Peer => 1,
            Role::Provider => 2,
        });
        eps.iter()
            .map(|e| format!("{}:{}", e.app, e.endpoint))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A Juju secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretState {
    pub id: String,
    pub owner: SecretOwner,
    /// Revision number to content; values are base64, as Juju stores them.
    pub revisions: BTreeMap<u32, Bag>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub rotate: Option<String>,
    pub expire: Option<String>,
    /// Application or unit name to the relation id the grant belongs to (None for user secrets).
    pub grants: BTreeMap<String, Option<u32>>,
    /// Per consuming unit: its label and the revision it tracks.
    pub consumers: BTreeMap<String, Consumer>,
}

impl SecretState {
    pub fn latest(&self) -> u32 {
        self.revisions.keys().next_back().copied().unwrap_or(0)
    }

    pub fn uri(&self) -> String {
        format!("secret:{}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum SecretOwner {
    Application(String),
    Unit(String),
    /// A user secret (`juju add-secret`), owned by the model.
    Model,
}

impl SecretOwner {
    pub fn kind(&self) -> &'static str {
        match self {
            SecretOwner::Application(_) => "application",
            SecretOwner::Unit(_) => "unit",
            SecretOwner::Model => "model",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub label: Option<String>,
    pub revision: Option<u32>,
}

/// The context of the running hook: what Juju's agent knows about it, independent of the
/// environment the charm may have changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookContext {
    pub id: String,
    pub unit: String,
    /// The hook name (`config-changed`) or the action name for actions.
    pub name: String,
    pub relation: Option<u32>,
    pub remote_unit: Option<String>,
    pub remote_app: Option<String>,
    pub storage: Option<String>,
    pub action: Option<ActionRun>,
}

/// An action being run, with what the charm reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActionRun {
    pub id: String,
    pub name: String,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub results: serde_json::Map<String, serde_json::Value>,
    pub log: Vec<String>,
    pub failed: bool,
    pub message: Option<String>,
}

/// Writes of the running hook that Juju commits only when the hook exits 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// Relation id to key/value; an empty value deletes the key.
    pub unit_bags: BTreeMap<u32, Bag>,
    pub app_bags: BTreeMap<u32, Bag>,
    pub ports: Vec<PortChange>,
    pub charm_state: BTreeMap<String, Option<String>>,
    pub secrets: Vec<SecretChange>,
    pub storage_add: Vec<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortChange {
    pub open: bool,
    pub port: OpenedPort,
}

/// A secret operation the hook requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SecretChange {
    Create(Box<SecretState>),
    Update {
        id: String,
        content: Option<Bag>,
        label: Option<String>,
        description: Option<String>,
        rotate: Option<String>,
        expire: Option<String>,
    },
    Grant {
        id: String,
        target: String,
        relation: u32,
    },
    Revoke {
        id: String,
        target: String,
    },
    Remove {
        id: String,
        revision: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub unit: String,
    pub level: String,
    pub message: String,
}

impl ModelState {
    pub fn app_of_unit(unit: &str) -> &str {
        unit.split_once('/').map_or(unit, |(app, _)| app)
    }

    pub fn unit(&self, name: &str) -> Option<&UnitState> {
        self.apps.get(Self::app_of_unit(name))?.units.get(name)
    }

    pub fn unit_mut(&mut self, name: &str) -> Option<&mut UnitState> {
        self.apps
            .get_mut(Self::app_of_unit(name))?
            .units
            .get_mut(name)
    }

    pub fn is_leader(&self, unit: &str) -> bool {
        self.apps
            .get(Self::app_of_unit(unit))
            .is_some_and(|a| a.leader.as_deref() == Some(unit))
    }

    /// The relations `unit` takes part in (its application is an endpoint and, for container
    /// scope, a unit on its machine is on the other side).
    pub fn relations_of<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a RelationState> {
        let app = Self::app_of_unit(unit);
        self.relations
            .values()
            .filter(move |r| r.endpoint_of(app).is_some())
    }

    /// Whether `a` and `b` can see each other in `rel` (container scope: same machine).
    pub fn can_see(&self, rel: &RelationState, a: &str, b: &str) -> bool {
        if a == b {
            return false;
        }
        match rel.scope {
            Scope::Global => true,
            Scope::Container => match (self.unit(a), self.unit(b)) {
                (Some(ua), Some(ub)) => ua.machine == ub.machine,
                _ => false,
            },
        }
    }

    /// The unit's bag in `rel` as the unit itself sees it during the running hook: committed
    /// data with its own pending writes applied.
    pub fn own_unit_bag(&self, rel: u32, unit: &str) -> Bag {
        let mut bag = self
            .relations
            .get(&rel)
            .and_then(|r| r.unit_data.get(unit))
            .cloned()
            .unwrap_or_default();
        if let Some(pending) = self.pending.unit_bags.get(&rel) {
            apply_bag(&mut bag, pending);
        }
        bag
    }

    /// The application bag in `rel` as its leader sees it during the running hook.
    pub fn own_app_bag(&self, rel: u32, app: &str) -> Bag {
        let mut bag = self
            .relations
            .get(&rel)
            .and_then(|r| r.app_data.get(app))
            .cloned()
            .unwrap_or_default();
        if let Some(pending) = self.pending.app_bags.get(&rel) {
            apply_bag(&mut bag, pending);
        }
        bag
    }
}

/// Applies relation-set semantics: an empty value deletes the key. Returns whether the bag
/// changed.
pub fn apply_bag(bag: &mut Bag, changes: &Bag) -> bool {
    let mut changed = false;
    for (k, v) in changes {
        if v.is_empty() {
            changed |= bag.remove(k).is_some();
        } else if bag.get(k) != Some(v) {
            bag.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_deletes_and_change_is_reported() {
        let mut bag = Bag::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let changes = Bag::from([("a".into(), String::new()), ("b".into(), "2".into())]);
        assert!(apply_bag(&mut bag, &changes));
        assert_eq!(bag, Bag::from([("b".into(), "2".into())]));
        assert!(!apply_bag(&mut bag, &changes));
    }

    #[test]
    fn port_ranges_print_like_juju() {
        let r = |protocol, from, to| PortRange { protocol, from, to };
        assert_eq!(r(Protocol::Tcp, 80, 80).to_string(), "80/tcp");
        assert_eq!(r(Protocol::Udp, 1000, 2000).to_string(), "1000-2000/udp");
        assert_eq!(r(Protocol::Icmp, 0, 0).to_string(), "icmp");
    }

    #[test]
    fn relation_key_puts_requirer_first() {
        let rel = RelationState {
            id: 1,
            endpoints: vec![
                RelationEndpoint {
                    app: "mysql".into(),
                    endpoint: "server".into(),
                    role: Role::Provider,
                    interface: "mysql".into(),
                },
                RelationEndpoint {
                    app: "wordpress".into(),
                    endpoint: "db".into(),
                    role: Role::Requirer,
                    interface: "mysql".into(),
                },
            ],
            scope: Scope::Global,
            app_data: BTreeMap::new(),
            unit_data: BTreeMap::new(),
            members: BTreeMap::new(),
            created: BTreeSet::new(),
            dying: false,
        };
        assert_eq!(rel.key(), "wordpress:db mysql:server");
        assert_eq!(rel.remote_app_of("mysql"), Some("wordpress"));
        assert_eq!(rel.remote_app_of("other"), None);
    }
}
