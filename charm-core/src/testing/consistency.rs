//! Rejects input states Juju could not produce for a charm's metadata, so a test cannot pass
//! against a situation that never happens.

use std::collections::BTreeSet;

use super::state::State;
use crate::event::Event;
use crate::metadata::{Metadata, Role};
use crate::pebble::fake::ContainerState;

/// Every problem found, each naming the bad value.
pub(crate) fn check(meta: &Metadata, unit: &str, event: &Event, state: &State) -> Vec<String> {
    let mut problems = Vec::new();
    let app = unit.split('/').next().unwrap_or(unit);

    for (name, value) in &state.config {
        match meta.config.get(name) {
            None => problems.push(format!("config option `{name}` is not in config.yaml")),
            Some(opt) if !value.fits(opt.kind) => problems.push(format!(
                "config option `{name}` is {} but the state gives {value:?}",
                opt.kind
            )),
            Some(_) => {}
        }
    }

    let mut ids = BTreeSet::new();
    for r in &state.relations {
        if !ids.insert(r.id) {
            problems.push(format!("relation id {} is used twice", r.id));
        }
        let Some(ep) = meta.endpoints.get(&r.endpoint) else {
            problems.push(format!(
                "relation {} is on `{}`, which is not an endpoint of {} (declared: {})",
                r.id,
                r.endpoint,
                meta.name,
                meta.endpoints
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        if ep.role == Role::Peers {
            if r.remote_app != app {
                problems.push(format!(
                    "peer relation {} must have this application `{app}` as remote app, not `{}`",
                    r.id, r.remote_app
                ));
            }
            if !r.remote_app_data.is_empty() {
                problems.push(format!(
                    "peer relation {} has one application bag: use local_app_data",
                    r.id
                ));
            }
            if r.remote_units.contains_key(unit) {
                problems.push(format!(
                    "peer relation {} lists this unit {unit} among its peers",
                    r.id
                ));
            }
        } else if r.remote_app.is_empty() || r.remote_app == app {
            problems.push(format!(
                "relation {} needs a remote application other than `{app}`",
                r.id
            ));
        }
        for u in r.remote_units.keys() {
            let ok = u
                .split_once('/')
                .is_some_and(|(a, n)| a == r.remote_app && n.parse::<u64>().is_ok());
            if !ok {
                problems.push(format!(
                    "relation {} lists unit `{u}`, which is not a unit of `{}`",
                    r.id, r.remote_app
                ));
            }
        }
        if let Some(limit) = ep.limit {
            let count = state
                .relations
                .iter()
                .filter(|o| o.endpoint == r.endpoint)
                .count();
            if count > limit as usize {
                problems.push(format!(
                    "endpoint `{}` has limit {limit} but the state has {count} relations",
                    r.endpoint
                ));
            }
        }
    }

    for s in &state.secrets {
        if s.latest.is_some() && s.owner.is_some() {
            problems.push(format!(
                "secret {}: owners always see the latest revision; `latest` is for observers",
                s.id
            ));
        }
    }

    for key in state.stored.keys() {
        if key.starts_with("charm-core/") {
            problems.push(format!("stored key `{key}` is reserved for charm-core"));
        }
    }
    for name in state.resources.keys() {
        if !meta.resources.contains_key(name) {
            problems.push(format!("resource `{name}` is not declared"));
        }
    }
    for id in state.storage.keys() {
        if !meta.storage.contains_key(&id.name) {
            problems.push(format!("storage `{id}` is not declared"));
        }
    }
    for binding in state.networks.keys() {
        if !meta.endpoints.contains_key(binding) && !meta.extra_bindings.contains(binding) {
            problems.push(format!("network binding `{binding}` is not declared"));
        }
    }

    for (name, container) in &state.containers {
        if meta.containers.contains_key(name) {
            check_container(name, container, &mut problems);
        } else {
            problems.push(format!(
                "container `{name}` is not declared (declared: {})",
                declared(meta.containers.keys())
            ));
        }
    }

    check_event(meta, event, state, &mut problems);
    problems
}

/// `a, b, c`, or `none`.
fn declared<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// What Pebble could not report: a plan its layers do not make, statuses of services or checks
/// not in the plan, two notices with the same type and key (Pebble counts occurrences instead).
fn check_container(name: &str, c: &ContainerState, problems: &mut Vec<String>) {
    match c.plan() {
        Err(e) => problems.push(format!(
            "container `{name}`: its layers do not combine into a plan: {e}"
        )),
        Ok(plan) => {
            for service in c.service_statuses.keys() {
                if !plan.services.contains_key(service) {
                    problems.push(format!(
                        "container `{name}` gives a status to service `{service}`, which is not \
                         in its plan (services: {})",
                        declared(plan.services.keys())
                    ));
                }
            }
            for check in c.checks.keys() {
                if !plan.checks.contains_key(check) {
                    problems.push(format!(
                        "container `{name}` gives a status to check `{check}`, which is not in \
                         its plan (checks: {})",
                        declared(plan.checks.keys())
                    ));
                }
            }
        }
    }
    for path in c.files.keys().chain(&c.dirs) {
        if !path.starts_with('/') {
            problems.push(format!("container `{name}`: path {path:?} is not absolute"));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, n) in c.notices.iter().enumerate() {
        if !seen.insert((n.notice_type.clone(), n.key.as_str())) {
            problems.push(format!(
                "container `{name}` declares notice {} {:?} twice (Pebble counts repeats as \
                 occurrences of one notice)",
                n.notice_type, n.key
            ));
        }
        let id = (i + 1).to_string();
        if !n.id.is_empty() && n.id != id {
            problems.push(format!(
                "container `{name}`: notice {:?} has id {:?}, but declared notices are \
                 numbered in order, so it gets {id:?}",
                n.key, n.id
            ));
        }
    }
}

/// A Pebble event needs its container in the state, connectable for pebble-ready, and the
/// notice or check it names there.
fn check_pebble_event(event: &Event, state: &State, problems: &mut Vec<String>) {
    let Some(name) = event.container() else {
        return;
    };
    let Some(c) = state.containers.get(name) else {
        problems.push(format!(
            "event {event} is about container `{name}`, which is not in state.containers"
        ));
        return;
    };
    match event {
        Event::PebbleReady { .. } if !c.can_connect => problems.push(format!(
            "pebble-ready means Pebble answers, but container `{name}` has can_connect = false"
        )),
        Event::PebbleCustomNotice { notice, .. } => {
            // The fake numbers declared notices 1, 2, ... in order.
            let found = notice
                .id
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| c.notices.get(i));
            let matches = found.is_some_and(|n| {
                n.notice_type.as_str() == notice.kind.as_str() && n.key == notice.key
            });
            if notice.kind != "custom" {
                problems.push(format!(
                    "event {event}: pebble-custom-notice is only for custom notices, not {:?}",
                    notice.kind
                ));
            } else if !matches {
                let list = c
                    .notices
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} = {} {:?}", i + 1, n.notice_type, n.key));
                problems.push(format!(
                    "event {event} is about notice {} ({} {:?}), which container `{name}` does \
                     not declare (notices: {}; State::custom_notice_event builds the event)",
                    notice.id,
                    notice.kind,
                    notice.key,
                    declared(list)
                ));
            }
        }
        Event::PebbleCheckFailed { check, .. } | Event::PebbleCheckRecovered { check, .. } => {
            // A plan that does not combine is reported with the container.
            if let Ok(plan) = c.plan()
                && !plan.checks.contains_key(check)
            {
                problems.push(format!(
                    "event {event} is about check `{check}`, which is not in the plan of \
                     container `{name}` (checks: {})",
                    declared(plan.checks.keys())
                ));
            }
        }
        _ => {}
    }
}

fn check_event(meta: &Metadata, event: &Event, state: &State, problems: &mut Vec<String>) {
    if let Some(r) = event.relation() {
        match state.relation(r.id) {
            None => problems.push(format!(
                "event {event} is about relation {}, which is not in the state",
                r.id
            )),
            Some(rel) => {
                if rel.endpoint != r.endpoint {
                    problems.push(format!(
                        "event {event} says relation {} is on `{}`, the state says `{}`",
                        r.id, r.endpoint, rel.endpoint
                    ));
                }
                if rel.remote_app != r.remote_app {
                    problems.push(format!(
                        "event {event} has remote app `{}`, relation {} has `{}`",
                        r.remote_app, r.id, rel.remote_app
                    ));
                }
                let member = matches!(event, Event::RelationJoined(_) | Event::RelationChanged(_));
                if member
                    && let Some(u) = &r.remote_unit
                    && !rel.remote_units.contains_key(u)
                {
                    problems.push(format!(
                        "event {event} is from unit {u}, which is not in relation {}",
                        r.id
                    ));
                }
                if let Event::RelationDeparted(d) = event
                    && let Some(u) = &d.departing_unit
                    && rel.remote_units.contains_key(u)
                {
                    problems.push(format!(
                        "unit {u} is departing relation {} but is still listed in it",
                        r.id
                    ));
                }
            }
        }
    }
    match event {
        Event::LeaderElected if !state.leader => {
            problems.push("leader-elected only runs on the leader: set leader = true".into())
        }
        Event::PebbleReady { container }
        | Event::PebbleCustomNotice { container, .. }
        | Event::PebbleCheckFailed { container, .. }
        | Event::PebbleCheckRecovered { container, .. } => {
            if meta.containers.contains_key(container) {
                check_pebble_event(event, state, problems);
            } else {
                problems.push(format!("container `{container}` is not declared"));
            }
        }
        Event::StorageAttached { storage } | Event::StorageDetaching { storage }
            if !state.storage.contains_key(storage) =>
        {
            problems.push(format!(
                "storage event for {storage}, which is not in state.storage"
            ))
        }
        Event::Action { name, .. } => match meta.actions.get(name) {
            None => problems.push(format!("action `{name}` is not in actions.yaml")),
            Some(spec) => {
                if let Err(e) =
                    crate::model::validate_action_params(name, spec, &state.action_params)
                {
                    problems.push(e);
                }
            }
        },
        _ => {}
    }
    if let Some(s) = event.secret() {
        match state.secrets.iter().find(|x| x.id == s.id) {
            None => problems.push(format!(
                "event {event} is about secret {}, which is not in the state",
                s.id
            )),
            Some(secret) => {
                let owner_event = !matches!(event, Event::SecretChanged(_));
                if owner_event != secret.owner.is_some() {
                    problems.push(format!(
                        "{} only runs for {} of secret {}",
                        event.hook_name(),
                        if owner_event {
                            "the owner"
                        } else {
                            "observers"
                        },
                        s.id
                    ));
                }
            }
        }
    }
}
