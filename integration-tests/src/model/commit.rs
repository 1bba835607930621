//! What happens when a hook ends: its journal is applied (exit 0) or dropped (anything
//! else), and the changes it made queue the hooks Juju would fire on other units
//! (`relation-changed` for data they can see, `secret-changed` for consumers).

use std::path::Path;

use super::hook::{Hook, HookCall};
use super::topology;
use crate::state::{Journal, ModelState, SecretChange, Status, StorageInstance, apply_bag};

/// Applies `journal`, written by `unit`, and returns the hooks it triggers.
pub(crate) fn apply(
    state: &mut ModelState,
    unit: &str,
    journal: Journal,
    storage_root: &Path,
) -> Vec<HookCall> {
    let mut follow = Vec::new();
    let app = ModelState::app_of_unit(unit).to_owned();
    for (rel_id, changes) in journal.unit_bags {
        let Some(rel) = state.relations.get_mut(&rel_id) else {
            continue;
        };
        let bag = rel.unit_data.entry(unit.to_owned()).or_default();
        if !apply_bag(bag, &changes) {
            continue;
        }
        for (watcher, seen) in &rel.members {
            if seen.contains(unit) {
                follow.push(HookCall::new(
                    watcher.clone(),
                    Hook::RelationChanged {
                        relation: rel_id,
                        remote: Some(unit.to_owned()),
                    },
                ));
            }
        }
    }
    for (rel_id, changes) in journal.app_bags {
        let Some(rel) = state.relations.get_mut(&rel_id) else {
            continue;
        };
        let bag = rel.app_data.entry(app.clone()).or_default();
        if !apply_bag(bag, &changes) {
            continue;
        }
        let peer = rel.is_peer();
        for watcher in &rel.created {
            let watcher_app = ModelState::app_of_unit(watcher);
            let sees_it = if peer {
                watcher != unit
            } else {
                watcher_app != app
            };
            if sees_it {
                follow.push(HookCall::new(
                    watcher.clone(),
                    Hook::RelationChanged {
                        relation: rel_id,
                        remote: None,
                    },
                ));
            }
        }
    }
    if let Some(u) = state.unit_mut(unit) {
        for change in journal.ports {
            if change.open {
                u.ports.insert(change.port);
            } else {
                u.ports.remove(&change.port);
            }
        }
        for (k, v) in journal.charm_state {
            match v {
                Some(v) => u.charm_state.insert(k, v),
                None => u.charm_state.remove(&k),
            };
        }
    }
    for change in journal.secrets {
        follow.extend(apply_secret(state, change));
    }
    for (name, count) in journal.storage_add {
        let kind = state
            .apps
            .get(&app)
            .and_then(|a| a.charm.storage.get(&name))
            .map(|m| m.kind);
        let Some(kind) = kind else { continue };
        for _ in 0..count {
            let id = next_storage_id(state, &name);
            let location = storage_root.join(id.replace('/', "-"));
            let _ = std::fs::create_dir_all(&location);
            if let Some(u) = state.unit_mut(unit) {
                u.storage
                    .insert(id.clone(), StorageInstance { kind, location });
            }
            follow.push(HookCall::new(unit, Hook::StorageAttached { storage: id }));
        }
    }
    follow
}

/// Storage ids are model-wide: `data/0`, `data/1`, ...
pub(crate) fn next_storage_id(state: &ModelState, name: &str) -> String {
    let used = state
        .apps
        .values()
        .flat_map(|a| a.units.values())
        .flat_map(|u| u.storage.keys())
        .filter_map(|id| id.strip_prefix(&format!("{name}/")))
        .filter_map(|n| n.parse::<u32>().ok())
        .max();
    format!("{name}/{}", used.map_or(0, |n| n + 1))
}

fn apply_secret(state: &mut ModelState, change: SecretChange) -> Vec<HookCall> {
    match change {
        SecretChange::Create(secret) => {
            state.secrets.insert(secret.id.clone(), *secret);
            Vec::new()
        }
        SecretChange::Update {
            id,
            content,
            label,
            description,
            rotate,
            expire,
        } => {
            let Some(secret) = state.secrets.get_mut(&id) else {
                return Vec::new();
            };
            if label.is_some() {
                secret.label = label;
            }
            if description.is_some() {
                secret.description = description;
            }
            if rotate.is_some() {
                secret.rotate = rotate;
            }
            if expire.is_some() {
                secret.expire = expire;
            }
            let Some(content) = content else {
                return Vec::new();
            };
            let next = secret.latest() + 1;
            secret.revisions.insert(next, content);
            let uri = secret.uri();
            secret
                .consumers
                .iter()
                .filter(|(_, c)| c.revision.is_some_and(|r| r < next))
                .map(|(unit, _)| {
                    HookCall::new(unit.clone(), Hook::SecretChanged { uri: uri.clone() })
                })
                .collect()
        }
        SecretChange::Grant {
            id,
            target,
            relation,
        } => {
            if let Some(secret) = state.secrets.get_mut(&id) {
                secret.grants.insert(target, Some(relation));
            }
            Vec::new()
        }
        SecretChange::Revoke { id, target } => {
            if let Some(secret) = state.secrets.get_mut(&id) {
                secret.grants.remove(&target);
            }
            Vec::new()
        }
        SecretChange::Remove { id, revision } => {
            match revision {
                Some(rev) => {
                    if let Some(secret) = state.secrets.get_mut(&id) {
                        secret.revisions.remove(&rev);
                        if secret.revisions.is_empty() {
                            state.secrets.remove(&id);
                        }
                    }
                }
                None => {
                    state.secrets.remove(&id);
                }
            }
            Vec::new()
        }
    }
}

/// The effects of a successful hook on the model itself.
pub(crate) fn after_success(state: &mut ModelState, call: &HookCall) -> Vec<HookCall> {
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

pub(crate) fn elect(state: &mut ModelState, app: &str, unit: &str) -> Vec<HookCall> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Bag, RelationEndpoint, RelationState};
    use std::collections::{BTreeMap, BTreeSet};

    fn relation(peer: bool) -> RelationState {
        let ep = |app: &str| RelationEndpoint {
            app: app.into(),
            endpoint: "ep".into(),
            role: crate::charm::Role::Peer,
            interface: "i".into(),
        };
        let mut endpoints = vec![ep("a")];
        if !peer {
            endpoints.push(ep("b"));
        }
        RelationState {
            id: 3,
            endpoints,
            scope: Default::default(),
            app_data: BTreeMap::new(),
            unit_data: BTreeMap::new(),
            members: BTreeMap::from([
                ("b/0".into(), BTreeSet::from(["a/0".into()])),
                ("a/1".into(), BTreeSet::from(["a/0".into()])),
            ]),
            created: BTreeSet::from(["a/0".into(), "a/1".into(), "b/0".into(), "b/1".into()]),
            dying: false,
        }
    }

    fn journal(unit: Option<(&str, &str)>, app: Option<(&str, &str)>) -> Journal {
        let bag = |kv: (&str, &str)| BTreeMap::from([(3, Bag::from([(kv.0.into(), kv.1.into())]))]);
        Journal {
            unit_bags: unit.map(bag).unwrap_or_default(),
            app_bags: app.map(bag).unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn unit_data_changes_reach_units_that_saw_the_writer_join() {
        let mut state = ModelState::default();
        state.relations.insert(3, relation(false));
        let dir = tempfile::tempdir().unwrap();
        let follow = apply(
            &mut state,
            "a/0",
            journal(Some(("k", "v")), None),
            dir.path(),
        );
        let targets: Vec<String> = follow.iter().map(|c| c.unit.clone()).collect();
        assert_eq!(targets, ["a/1", "b/0"]);
        assert_eq!(state.relations[&3].unit_data["a/0"]["k"], "v");
        // Writing the same value again changes nothing and fires nothing.
        let follow = apply(
            &mut state,
            "a/0",
            journal(Some(("k", "v")), None),
            dir.path(),
        );
        assert!(follow.is_empty());
    }

    #[test]
    fn app_data_changes_reach_the_other_side_or_other_peers() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ModelState::default();
        state.relations.insert(3, relation(false));
        let follow = apply(
            &mut state,
            "a/0",
            journal(None, Some(("k", "v"))),
            dir.path(),
        );
        let targets: Vec<String> = follow.iter().map(|c| c.unit.clone()).collect();
        assert_eq!(targets, ["b/0", "b/1"]);
        assert!(follow.iter().all(|c| c.hook
            == Hook::RelationChanged {
                relation: 3,
                remote: None
            }));

        let mut state = ModelState::default();
        let mut peers = relation(true);
        peers.created = BTreeSet::from(["a/0".into(), "a/1".into(), "a/2".into()]);
        state.relations.insert(3, peers);
        let follow = apply(
            &mut state,
            "a/0",
            journal(None, Some(("k", "v"))),
            dir.path(),
        );
        let targets: Vec<String> = follow.iter().map(|c| c.unit.clone()).collect();
        assert_eq!(targets, ["a/1", "a/2"]);
    }
}
