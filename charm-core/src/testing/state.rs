//! The input and output of a state-transition test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::context::StorageId;
use crate::event::{Event, Notice, RelationEvent, RelationId};
use crate::log::LogLine;
use crate::metadata::ConfigValue;
use crate::network::{Network, Port};
use crate::pebble::NoticeType;
use crate::pebble::fake::ContainerState;
use crate::secret::{SecretOwner, SecretRotate};
use crate::status::Status;

type Bag = BTreeMap<String, String>;

fn bag<K: Into<String>, V: Into<String>>(items: impl IntoIterator<Item = (K, V)>) -> Bag {
    items
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

static NEXT_RELATION_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_SECRET_ID: AtomicU64 = AtomicU64::new(1);

/// Everything Juju knows about this unit, before and after a hook. Fields are public and the
/// type is `Default`, so tests write `State { leader: true, ..Default::default() }` and new
/// fields are additive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Whether this unit is the leader (`is-leader`).
    pub leader: bool,
    /// Config values set by the operator; options left out take their default.
    pub config: BTreeMap<String, ConfigValue>,
    /// The unit's relations (`relation-ids`, `relation-list`, `relation-get`); the output has
    /// the bags as the hook left them.
    pub relations: Vec<Relation>,
    /// Secrets this unit owns or was granted.
    pub secrets: Vec<Secret>,
    /// The charm's stored state (keys as passed to `Model::store`).
    pub stored: BTreeMap<String, Value>,
    /// Deferred events, oldest first.
    pub deferred: Vec<Event>,
    /// Units of this application that are or will be running (goal-state); `None` = 1.
    pub planned_units: Option<usize>,
    /// Ports this unit has open (`opened-ports`); the output has what the hook left open.
    pub opened_ports: BTreeSet<Port>,
    /// `network-get` answers by binding; unlisted bindings get 192.0.2.0.
    pub networks: BTreeMap<String, Network>,
    /// Resource name -> path `resource-get` prints.
    pub resources: BTreeMap<String, PathBuf>,
    /// Attached storage instances and where they are mounted.
    pub storage: BTreeMap<StorageId, PathBuf>,
    /// The unit status Juju shows; in the input, also the one charm-core remembers having
    /// set, so an unchanged status is not set again (see [`crate::status`]).
    pub unit_status: Option<Status>,
    /// The application status Juju shows (the leader's to set).
    pub app_status: Option<Status>,
    /// The workload version `juju status` shows (`application-version-set`).
    pub workload_version: Option<String>,
    /// Parameters of the action being run (defaults from actions.yaml are filled in).
    pub action_params: Map<String, Value>,
    /// Workload containers by name: a fake Pebble serves each one that can connect during the
    /// hook, and the output holds what the charm left in it (layers, plan, service statuses,
    /// files, checks, notices, changes). A declared container left out has no socket, as if
    /// its Pebble were not up.
    pub containers: BTreeMap<String, ContainerState>,

    // Outputs.
    /// Log lines, one per `tracing` event, each at its level (in production DEBUG lines go to
    /// stdout and the others are batched into one `juju-log` call per level: see
    /// [`crate::log`]).
    pub logs: Vec<LogLine>,
    /// `action-set` results (flattened keys).
    pub action_results: BTreeMap<String, String>,
    /// `action-log` messages.
    pub action_logs: Vec<String>,
    /// The `action-fail` message, if the action failed.
    pub action_failure: Option<String>,
    /// Every hook-tool command production would have run for this hook (`juju-log` aside),
    /// e.g. `relation-get --format=json -r backup:1 --app - myapp`.
    pub tool_calls: Vec<String>,
}

impl State {
    /// The relation with this id.
    pub fn relation(&self, id: RelationId) -> Option<&Relation> {
        self.relations.iter().find(|r| r.id == id)
    }

    /// The only relation on `endpoint`.
    pub fn relation_on(&self, endpoint: &str) -> Option<&Relation> {
        let mut it = self.relations.iter().filter(|r| r.endpoint == endpoint);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }

    /// Every logged message, in order.
    pub fn log_messages(&self) -> Vec<&str> {
        self.logs.iter().map(|l| l.message.as_str()).collect()
    }

    /// Clears the outputs, keeping Juju's state (to chain runs).
    pub fn without_outputs(mut self) -> State {
        self.logs.clear();
        self.action_results.clear();
        self.action_logs.clear();
        self.action_failure = None;
        self.tool_calls.clear();
        for container in self.containers.values_mut() {
            container.changes.clear();
        }
        self
    }

    /// The `<container>-pebble-custom-notice` event for the custom notice with `key` declared
    /// in `containers[container]`, with the id the fake Pebble gives it (declared notices are
    /// numbered 1, 2, ... in order).
    pub fn custom_notice_event(&self, container: &str, key: &str) -> Option<Event> {
        let notices = &self.containers.get(container)?.notices;
        let index = notices
            .iter()
            .position(|n| n.notice_type == NoticeType::Custom && n.key == key)?;
        Some(Event::PebbleCustomNotice {
            container: container.to_string(),
            notice: Notice {
                id: (index + 1).to_string(),
                kind: NoticeType::Custom.to_string(),
                key: key.to_string(),
            },
        })
    }
}

/// A relation and the data of both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// The endpoint name from `metadata.yaml`.
    pub endpoint: String,
    /// Juju's id of the relation.
    pub id: RelationId,
    /// For peer relations, this application.
    pub remote_app: String,
    /// This application's bag (the leader writes it).
    pub local_app_data: Bag,
    /// This unit's bag.
    pub local_unit_data: Bag,
    /// The remote application's bag.
    pub remote_app_data: Bag,
    /// Remote (or peer) unit name -> its bag; the keys are the units `relation-list` gives.
    pub remote_units: BTreeMap<String, Bag>,
}

impl Relation {
    /// A relation with a fresh id and one remote unit (`<remote_app>/0`) with an empty bag.
    pub fn new(endpoint: &str, remote_app: &str) -> Relation {
        Relation {
            endpoint: endpoint.to_string(),
            id: RelationId(NEXT_RELATION_ID.fetch_add(1, Ordering::Relaxed)),
            remote_app: remote_app.to_string(),
            local_app_data: Bag::new(),
            local_unit_data: Bag::new(),
            remote_app_data: Bag::new(),
            remote_units: [(format!("{remote_app}/0"), Bag::new())].into(),
        }
    }

    /// The same relation with a chosen id (for tests that name it, e.g. in a stored value).
    pub fn id(mut self, id: u64) -> Relation {
        self.id = RelationId(id);
        self
    }

    /// The same relation with this remote application bag.
    pub fn remote_app_data<K: Into<String>, V: Into<String>>(
        mut self,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.remote_app_data = bag(data);
        self
    }

    /// The same relation with this application's bag (as written by an earlier hook).
    pub fn local_app_data<K: Into<String>, V: Into<String>>(
        mut self,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.local_app_data = bag(data);
        self
    }

    /// The same relation with this unit's bag.
    pub fn local_unit_data<K: Into<String>, V: Into<String>>(
        mut self,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.local_unit_data = bag(data);
        self
    }

    /// Adds (or replaces) a remote unit and its bag.
    pub fn unit<K: Into<String>, V: Into<String>>(
        mut self,
        unit: &str,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.remote_units.insert(unit.to_string(), bag(data));
        self
    }

    /// Removes every remote unit (a relation whose units have not joined yet, or left).
    pub fn no_units(mut self) -> Relation {
        self.remote_units.clear();
        self
    }

    /// The first remote unit's name (`<remote_app>/0` for [`Relation::new`]).
    pub fn first_unit(&self) -> Option<&str> {
        self.remote_units.keys().next().map(String::as_str)
    }

    /// `<endpoint>-relation-created`.
    pub fn created_event(&self) -> Event {
        Event::RelationCreated(self.event(None, None))
    }

    /// `<endpoint>-relation-joined` by the first remote unit.
    pub fn joined_event(&self) -> Event {
        Event::RelationJoined(self.event(self.first_unit(), None))
    }

    /// `<endpoint>-relation-changed`: from the first remote unit's bag, or, for a relation
    /// without units, from the remote application's (no remote unit, as Juju 3 sets it).
    pub fn changed_event(&self) -> Event {
        Event::RelationChanged(self.event(self.first_unit(), None))
    }

    /// `<endpoint>-relation-departed` as remote `unit` leaves.
    pub fn departed_event(&self, unit: &str) -> Event {
        Event::RelationDeparted(self.event(Some(unit), Some(unit)))
    }

    /// `<endpoint>-relation-broken`.
    pub fn broken_event(&self) -> Event {
        Event::RelationBroken(self.event(None, None))
    }

    fn event(&self, remote_unit: Option<&str>, departing_unit: Option<&str>) -> RelationEvent {
        RelationEvent {
            endpoint: self.endpoint.clone(),
            id: self.id,
            remote_app: self.remote_app.clone(),
            remote_unit: remote_unit.map(str::to_string),
            departing_unit: departing_unit.map(str::to_string),
        }
    }
}

/// A secret this unit owns or has been granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    /// The secret's URI.
    pub id: String,
    /// This unit's label for it.
    pub label: Option<String>,
    /// `Some` when this charm owns it.
    pub owner: Option<SecretOwner>,
    /// The revision this unit tracks, and its content.
    pub revision: u64,
    /// The content of the tracked revision.
    pub content: Bag,
    /// A newer revision's content, if the owner published one.
    pub latest: Option<Bag>,
    /// Its description (owners see it).
    pub description: Option<String>,
    /// Its expiry, a duration or an RFC 3339 time.
    pub expire: Option<String>,
    /// Its rotation policy.
    pub rotate: Option<SecretRotate>,
    /// (relation id, unit) pairs the secret is granted to; `None` unit = the whole remote app.
    pub grants: BTreeSet<(u64, Option<String>)>,
    /// Revisions removed with `secret-remove --revision`.
    pub removed_revisions: BTreeSet<u64>,
}

impl Secret {
    /// A secret with a fresh id, content at revision 1, not owned by this charm.
    pub fn new<K: Into<String>, V: Into<String>>(
        content: impl IntoIterator<Item = (K, V)>,
    ) -> Secret {
        let n = NEXT_SECRET_ID.fetch_add(1, Ordering::Relaxed);
        Secret {
            id: format!("secret:{n:020}"),
            label: None,
            owner: None,
            revision: 1,
            content: bag(content),
            latest: None,
            description: None,
            expire: None,
            rotate: None,
            grants: BTreeSet::new(),
            removed_revisions: BTreeSet::new(),
        }
    }

    /// The same secret with this unit's label.
    pub fn label(mut self, label: &str) -> Secret {
        self.label = Some(label.to_string());
        self
    }

    /// The same secret, owned by this charm (unit or application).
    pub fn owned_by(mut self, owner: SecretOwner) -> Secret {
        self.owner = Some(owner);
        self
    }

    /// Publishes a newer revision this unit has not refreshed to yet.
    pub fn with_latest<K: Into<String>, V: Into<String>>(
        mut self,
        content: impl IntoIterator<Item = (K, V)>,
    ) -> Secret {
        self.latest = Some(bag(content));
        self
    }
}
