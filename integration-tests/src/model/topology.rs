//! Changes to the model's shape (units, relations) and the hook sequences Juju runs for them.
//!
//! Orders follow Juju 3's documented sequences:
//! - a new unit: `*-storage-attached`, `install`, `*-relation-created` for each relation of
//!   its application, `leader-elected` (leader) or `leader-settings-changed`,
//!   `config-changed`, `start`, `*-pebble-ready` per container; then, for every unit it can
//!   see in each relation, `-relation-joined` and `-relation-changed` on both sides;
//! - a unit leaving: `-relation-departed` on the units that saw it and on itself for each
//!   unit it saw, `-relation-broken`, `*-storage-detaching`, `stop`, `remove`;
//! - a relation removed: `-relation-departed` for every member, then `-relation-broken`.
//!
//! Subordinate units are created per principal unit when a container-scoped relation joins
//! them, and removed with their principal or with the last such relation.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::ModelError;
use super::hook::{Hook, HookCall};
use crate::charm::{Role, Scope, StorageKind};
use crate::state::{
    AppState, Bag, ModelState, RelationEndpoint, RelationState, Status, StorageInstance, UnitState,
};

/// Where units' files live inside the simulator directory.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub root: PathBuf,
}

impl Paths {
    pub fn unit_charm(&self, unit: &str) -> PathBuf {
        self.root
            .join("units")
            .join(format!("unit-{}", unit.replace('/', "-")))
            .join("charm")
    }

    /// The unit's `/charm/containers`: one directory per workload container, holding its
    /// Pebble socket.
    pub fn unit_containers(&self, unit: &str) -> PathBuf {
        self.root
            .join("units")
            .join(format!("unit-{}", unit.replace('/', "-")))
            .join("containers")
    }

    pub fn storage(&self) -> PathBuf {
        self.root.join("storage")
    }
}

pub(crate) const INSTALLING: (&str, &str) = ("maintenance", "installing charm software");

fn address_of_machine(machine: u32) -> String {
    format!("10.0.{}.{}", machine / 250, machine % 250 + 1)
}

/// The keys Juju puts in a unit's bag when it enters a relation.
fn initial_unit_bag(address: &str) -> Bag {
    Bag::from([
        ("egress-subnets".into(), format!("{address}/32")),
        ("ingress-address".into(), address.to_owned()),
        ("private-address".into(), address.to_owned()),
    ])
}

/// Copies a charm directory, keeping modes and symlinks.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), ModelError> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |source| ModelError::Io {
            context: format!("copying {what}"),
            source,
        }
    };
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&src).map_err(io(&src))?;
            let _ = fs::remove_file(&dst);
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst))?;
        } else {
            fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

/// Adds a unit of `app` (on `principal`'s machine for subordinates): its state, its own copy
/// of the charm and its storage. No hooks run.
pub(crate) fn create_unit(
    state: &mut ModelState,
    paths: &Paths,
    app: &str,
    principal: Option<&str>,
) -> Result<String, ModelError> {
    let (machine, address) = match principal {
        Some(p) => {
            let p = state
                .unit(p)
                .ok_or_else(|| ModelError::Invalid(format!("no unit {p:?}")))?;
            (p.machine.clone(), p.address.clone())
        }
        None => {
            let m = state.counters.machine;
            state.counters.machine += 1;
            (m.to_string(), address_of_machine(m))
        }
    };
    let app_state = state
        .apps
        .get(app)
        .ok_or_else(|| ModelError::Invalid(format!("no application {app:?}")))?;
    let number = app_state.next_unit;
    let name = format!("{app}/{number}");
    let charm_dir = paths.unit_charm(&name);
    copy_tree(&app_state.charm_dir, &charm_dir)?;
    let mut storage = std::collections::BTreeMap::new();
    for (storage_name, meta) in app_state.charm.storage.clone() {
        for _ in 0..meta.initial {
            let id = super::commit::next_storage_id(state, storage_name.as_str());
            let id = bump_if_taken(&storage, id, &storage_name);
            let location = paths.storage().join(id.replace('/', "-"));
            if meta.kind == StorageKind::Filesystem {
                fs::create_dir_all(&location).map_err(|source| ModelError::Io {
                    context: format!("creating storage {}", location.display()),
                    source,
                })?;
            }
            storage.insert(
                id,
                StorageInstance {
                    kind: meta.kind,
                    location,
                },
            );
        }
    }
    let installing = Status::new(INSTALLING.0, INSTALLING.1);
    let unit = UnitState {
        name: name.clone(),
        number,
        principal: principal.map(str::to_owned),
        machine,
        address: address.clone(),
        charm_dir,
        status: installing.clone(),
        status_history: vec![installing],
        workload_version: String::new(),
        ports: Default::default(),
        charm_state: Default::default(),
        storage,
        started: false,
        dying: false,
    };
    let app_state = state
        .apps
        .get_mut(app)
        .ok_or_else(|| ModelError::Invalid(format!("no application {app:?}")))?;
    app_state.next_unit += 1;
    app_state.units.insert(name.clone(), unit);
    if app_state.leader.is_none() {
        app_state.leader = Some(name.clone());
    }
    for rel in state.relations.values_mut() {
        if rel.endpoint_of(app).is_some() {
            rel.unit_data
                .insert(name.clone(), initial_unit_bag(&address));
        }
    }
    Ok(name)
}

/// Storage ids handed out in the same call are not yet in the state.
fn bump_if_taken(
    taken: &std::collections::BTreeMap<String, StorageInstance>,
    mut id: String,
    name: &str,
) -> String {
    let mut n: u32 = id
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    while taken.contains_key(&id) {
        n += 1;
        id = format!("{name}/{n}");
    }
    id
}

/// Whether `unit` takes part in `rel` (for container scope: a unit on the other side shares
/// its machine).
pub(crate) fn participates(state: &ModelState, rel: &RelationState, unit: &str) -> bool {
    let app = ModelState::app_of_unit(unit);
    if rel.endpoint_of(app).is_none() {
        return false;
    }
    match rel.scope {
        Scope::Global => true,
        Scope::Container => units_of_other_side(state, rel, app)
            .iter()
            .any(|other| state.can_see(rel, unit, other)),
    }
}

fn units_of_other_side(state: &ModelState, rel: &RelationState, app: &str) -> Vec<String> {
    let other = rel.remote_app_of(app).unwrap_or(app);
    state
        .apps
        .get(other)
        .map(AppState::unit_names)
        .unwrap_or_default()
}

/// The hooks of a unit's first start.
pub(crate) fn startup_hooks(state: &ModelState, unit: &str) -> Vec<HookCall> {
    let Some(u) = state.unit(unit) else {
        return Vec::new();
    };
    let app = ModelState::app_of_unit(unit);
    let mut hooks: Vec<HookCall> = u
        .storage
        .keys()
        .map(|id| {
            HookCall::new(
                unit,
                Hook::StorageAttached {
                    storage: id.clone(),
                },
            )
        })
        .collect();
    hooks.push(HookCall::new(unit, Hook::Install));
    for rel in state.relations.values() {
        if !rel.dying && participates(state, rel, unit) {
            hooks.push(HookCall::new(
                unit,
                Hook::RelationCreated { relation: rel.id },
            ));
        }
    }
    let leader_hook = if state.is_leader(unit) {
        Hook::LeaderElected
    } else {
        Hook::LeaderSettingsChanged
    };
    hooks.push(HookCall::new(unit, leader_hook));
    hooks.push(HookCall::new(unit, Hook::ConfigChanged));
    hooks.push(HookCall::new(unit, Hook::Start));
    if let Some(app) = state.apps.get(app) {
        for c in &app.charm.containers {
            hooks.push(HookCall::new(
                unit,
                Hook::PebbleReady {
                    container: c.clone(),
                },
            ));
        }
    }
    hooks
}

/// `-relation-joined` and `-relation-changed` both ways for every visible pair that involves
/// one of `units`, each pair once.
pub(crate) fn join_hooks(state: &ModelState, units: &[String], only: Option<u32>) -> Vec<HookCall> {
    let mut done = BTreeSet::new();
    let mut hooks = Vec::new();
    for rel in state.relations.values() {
        if rel.dying || only.is_some_and(|id| id != rel.id) {
            continue;
        }
        for unit in units {
            let app = ModelState::app_of_unit(unit);
            if rel.endpoint_of(app).is_none() {
                continue;
            }
            for other in units_of_other_side(state, rel, app) {
                if !state.can_see(rel, unit, &other) {
                    continue;
                }
                let pair = if *unit < other {
                    (unit.clone(), other.clone())
                } else {
                    (other.clone(), unit.clone())
                };
                if !done.insert((rel.id, pair)) {
                    continue;
                }
                for (a, b) in [(unit, &other), (&other, unit)] {
                    hooks.push(HookCall::new(
                        a.clone(),
                        Hook::RelationJoined {
                            relation: rel.id,
                            remote: b.clone(),
                        },
                    ));
                    hooks.push(HookCall::new(
                        a.clone(),
                        Hook::RelationChanged {
                            relation: rel.id,
                            remote: Some(b.clone()),
                        },
                    ));
                }
            }
        }
    }
    hooks
}

/// Startup for all `units`, then their joins.
pub(crate) fn entry_hooks(state: &ModelState, units: &[String]) -> Vec<HookCall> {
    let mut hooks: Vec<HookCall> = units.iter().flat_map(|u| startup_hooks(state, u)).collect();
    hooks.extend(join_hooks(state, units, None));
    hooks
}

/// Creates a relation between two endpoints (or a peer relation when `b` is `None`), giving
/// every unit of the applications its initial bag.
pub(crate) fn create_relation(
    state: &mut ModelState,
    a: RelationEndpoint,
    b: Option<RelationEndpoint>,
    scope: Scope,
) -> u32 {
    let id = state.counters.relation;
    state.counters.relation += 1;
    let mut endpoints = vec![a];
    endpoints.extend(b);
    let mut unit_data = std::collections::BTreeMap::new();
    for ep in &endpoints {
        if let Some(app) = state.apps.get(&ep.app) {
            for u in app.units.values() {
                unit_data.insert(u.name.clone(), initial_unit_bag(&u.address));
            }
        }
    }
    state.relations.insert(
        id,
        RelationState {
            id,
            endpoints,
            scope,
            app_data: Default::default(),
            unit_data,
            members: Default::default(),
            created: Default::default(),
            dying: false,
        },
    );
    id
}

/// For a container relation between a subordinate and a principal application: a
/// subordinate unit beside every principal unit that has none yet. Returns the new units.
pub(crate) fn ensure_subordinates(
    state: &mut ModelState,
    paths: &Paths,
    rel_id: u32,
) -> Result<Vec<String>, ModelError> {
    let Some(rel) = state.relations.get(&rel_id).cloned() else {
        return Ok(Vec::new());
    };
    if rel.scope != Scope::Container || rel.is_peer() {
        return Ok(Vec::new());
    }
    let sub = rel
        .endpoints
        .iter()
        .find(|e| state.apps.get(&e.app).is_some_and(|a| a.charm.subordinate));
    let Some(sub) = sub else {
        return Ok(Vec::new());
    };
    let principal_app = rel.remote_app_of(&sub.app).unwrap_or_default().to_owned();
    let sub_app = sub.app.clone();
    let mut created = Vec::new();
    let principals = state
        .apps
        .get(&principal_app)
        .map(AppState::unit_names)
        .unwrap_or_default();
    for principal in principals {
        let machine = state.unit(&principal).map(|u| u.machine.clone());
        let has_one = state.apps.get(&sub_app).is_some_and(|a| {
            a.units
                .values()
                .any(|u| Some(&u.machine) == machine.as_ref())
        });
        if !has_one {
            created.push(create_unit(state, paths, &sub_app, Some(&principal))?);
        }
    }
    Ok(created)
}

/// The hooks that take `unit` out of the model (subordinates first).
pub(crate) fn removal_hooks(state: &ModelState, unit: &str) -> Vec<HookCall> {
    let mut hooks = Vec::new();
    let subordinates: Vec<String> = state
        .apps
        .values()
        .flat_map(|a| a.units.values())
        .filter(|u| u.principal.as_deref() == Some(unit))
        .map(|u| u.name.clone())
        .collect();
    for sub in subordinates {
        hooks.extend(removal_hooks(state, &sub));
    }
    for rel in state.relations.values() {
        if rel.dying || !rel.created.contains(unit) {
            continue;
        }
        for (watcher, seen) in &rel.members {
            if watcher != unit && seen.contains(unit) {
                hooks.push(HookCall::new(
                    watcher.clone(),
                    Hook::RelationDeparted {
                        relation: rel.id,
                        remote: unit.to_owned(),
                        departing: unit.to_owned(),
                    },
                ));
            }
        }
        for seen in rel.members.get(unit).into_iter().flatten() {
            hooks.push(HookCall::new(
                unit,
                Hook::RelationDeparted {
                    relation: rel.id,
                    remote: seen.clone(),
                    departing: unit.to_owned(),
                },
            ));
        }
        hooks.push(HookCall::new(
            unit,
            Hook::RelationBroken { relation: rel.id },
        ));
    }
    if let Some(u) = state.unit(unit) {
        for id in u.storage.keys() {
            hooks.push(HookCall::new(
                unit,
                Hook::StorageDetaching {
                    storage: id.clone(),
                },
            ));
        }
    }
    hooks.push(HookCall::new(unit, Hook::Stop));
    hooks.push(HookCall::new(unit, Hook::Remove));
    hooks
}

/// Marks the units whose `remove` hook is among `hooks` as dying (for `goal-state`).
pub(crate) fn mark_dying(state: &mut ModelState, hooks: &[HookCall]) {
    for call in hooks {
        if call.hook == Hook::Remove
            && let Some(u) = state.unit_mut(&call.unit)
        {
            u.dying = true;
        }
    }
}

/// The hooks of removing relation `rel_id` (marks it dying), then the removal of
/// subordinate units left without a principal relation.
pub(crate) fn unrelate_hooks(state: &mut ModelState, rel_id: u32) -> Vec<HookCall> {
    let Some(rel) = state.relations.get_mut(&rel_id) else {
        return Vec::new();
    };
    rel.dying = true;
    let rel = rel.clone();
    let mut hooks = Vec::new();
    for unit in &rel.created {
        for seen in rel.members.get(unit).into_iter().flatten() {
            hooks.push(HookCall::new(
                unit.clone(),
                Hook::RelationDeparted {
                    relation: rel_id,
                    remote: seen.clone(),
                    departing: seen.clone(),
                },
            ));
        }
    }
    for unit in &rel.created {
        hooks.push(HookCall::new(
            unit.clone(),
            Hook::RelationBroken { relation: rel_id },
        ));
    }
    if rel.scope == Scope::Container {
        for ep in &rel.endpoints {
            let Some(app) = state.apps.get(&ep.app) else {
                continue;
            };
            if !app.charm.subordinate {
                continue;
            }
            for sub in app.unit_names() {
                let still_attached = state.relations.values().any(|r| {
                    !r.dying && r.scope == Scope::Container && participates(state, r, &sub)
                });
                if !still_attached {
                    hooks.extend(removal_hooks(state, &sub));
                }
            }
        }
    }
    hooks
}

/// Finds the endpoints to relate for `a` and `b` (`app` or `app:endpoint`), as
/// `juju integrate` does: one provider, one requirer, same interface.
pub(crate) fn resolve_endpoints(
    state: &ModelState,
    a: &str,
    b: &str,
) -> Result<(RelationEndpoint, RelationEndpoint, Scope), ModelError> {
    let candidates = |spec: &str| -> Result<Vec<(RelationEndpoint, Scope)>, ModelError> {
        let (app, endpoint) = spec
            .split_once(':')
            .map_or((spec, None), |(a, e)| (a, Some(e)));
        let app_state = state
            .apps
            .get(app)
            .ok_or_else(|| ModelError::Invalid(format!("application {app:?} not found")))?;
        let found: Vec<_> = app_state
            .charm
            .endpoints
            .iter()
            .filter(|(name, meta)| {
                meta.role != Role::Peer && endpoint.is_none_or(|e| e == name.as_str())
            })
            .map(|(name, meta)| {
                (
                    RelationEndpoint {
                        app: app.to_owned(),
                        endpoint: name.clone(),
                        role: meta.role,
                        interface: meta.interface.clone(),
                    },
                    meta.scope,
                )
            })
            .collect();
        if found.is_empty() {
            return Err(ModelError::Invalid(format!(
                "application {app:?} has no endpoint {spec:?}"
            )));
        }
        Ok(found)
    };
    let (left, right) = (candidates(a)?, candidates(b)?);
    let mut matches = Vec::new();
    for (l, ls) in &left {
        for (r, rs) in &right {
            let roles_fit = matches!(
                (l.role, r.role),
                (Role::Provider, Role::Requirer) | (Role::Requirer, Role::Provider)
            );
            if roles_fit && l.interface == r.interface {
                let scope = if *ls == Scope::Container || *rs == Scope::Container {
                    Scope::Container
                } else {
                    Scope::Global
                };
                matches.push((l.clone(), r.clone(), scope));
            }
        }
    }
    // `juju-info` is implicit: prefer explicitly declared endpoints when ambiguous.
    if matches.len() > 1 {
        matches.retain(|(l, r, _)| l.endpoint != "juju-info" || r.endpoint != "juju-info");
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(ModelError::Invalid(format!(
            "no relation between {a:?} and {b:?}: no provider/requirer pair with the same interface"
        ))),
        _ => Err(ModelError::Invalid(format!(
            "ambiguous relation between {a:?} and {b:?}: name the endpoints"
        ))),
    }
}
