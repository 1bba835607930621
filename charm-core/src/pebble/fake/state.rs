//! The fake's in-memory daemon state: layers and plan, services, changes, checks, notices.
//!
//! Services do not run: starting one marks it active. Changes for service operations finish
//! at once; a service can be told to fail its next starts ([`State::fail_start`]) to exercise
//! failed changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::clock;
use crate::pebble::layer::{Layer, Service, Startup};
use crate::pebble::plan::Plan;
use crate::pebble::{CheckStatus, NoticeType, ServiceStatus};

/// An error answer: HTTP status, message, optional kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            message: message.into(),
            kind: None,
        }
    }
}

/// What the fake knows about one service beyond the plan.
#[derive(Debug, Clone)]
pub(crate) struct ServiceState {
    pub current: ServiceStatus,
    pub since: String,
    /// The configuration it was started with, to find what replan must restart.
    pub started_with: Option<Service>,
}

/// What the fake knows about one check.
#[derive(Debug, Clone)]
pub(crate) struct CheckState {
    pub status: CheckStatus,
    pub failures: u32,
    pub successes: u64,
}

/// A change and the channel its waiters watch.
pub(crate) struct ChangeRecord {
    pub info: Value,
    pub ready: watch::Sender<bool>,
}

/// A notice.
#[derive(Debug, Clone)]
pub(crate) struct NoticeRecord {
    pub id: u64,
    pub notice_type: NoticeType,
    pub key: String,
    pub first_occurred: String,
    pub last_occurred: String,
    pub last_repeated: String,
    pub occurrences: u64,
    pub last_data: BTreeMap<String, String>,
}

impl NoticeRecord {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "user-id": null,
            "type": self.notice_type.as_str(),
            "key": self.key,
            "first-occurred": self.first_occurred,
            "last-occurred": self.last_occurred,
            "last-repeated": self.last_repeated,
            "occurrences": self.occurrences,
            "last-data": self.last_data,
            "expire-after": "168h0m0s",
        })
    }
}

/// One task of a change being built.
struct TaskOutcome {
    kind: &'static str,
    summary: String,
    error: Option<String>,
    log: Vec<String>,
}

/// The daemon state behind the fake's API.
#[derive(Default)]
pub(crate) struct State {
    pub layers: Vec<(String, Layer)>,
    pub plan: Plan,
    pub services: BTreeMap<String, ServiceState>,
    pub start_failures: BTreeMap<String, String>,
    pub checks: BTreeMap<String, CheckState>,
    pub changes: BTreeMap<u64, ChangeRecord>,
    next_change: u64,
    next_task: u64,
    pub notices: Vec<NoticeRecord>,
    next_notice: u64,
}

impl State {
    /// `POST /v1/layers` with action "add".
    pub(crate) fn add_layer(
        &mut self,
        label: &str,
        layer: Layer,
        combine: bool,
    ) -> Result<(), ApiError> {
        let format = |e: crate::pebble::Error| ApiError::bad_request(layer_message(e));
        layer.validate().map_err(format)?;
        let mut layers = self.layers.clone();
        match layers.iter_mut().find(|(l, _)| l == label) {
            Some((_, existing)) if combine => existing.combine(label, &layer).map_err(format)?,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "layer {label:?} already exists"
                )));
            }
            None => layers.push((label.to_string(), layer)),
        }
        let plan = Plan::from_layers(layers.iter().map(|(l, layer)| (l.as_str(), layer)))
            .map_err(format)?;
        self.layers = layers;
        self.set_plan(plan);
        Ok(())
    }

    /// Installs a new plan, keeping service and check states in step with it.
    pub(crate) fn set_plan(&mut self, plan: Plan) {
        for name in plan.services.keys() {
            self.services
                .entry(name.clone())
                .or_insert_with(|| ServiceState {
                    current: ServiceStatus::Inactive,
                    since: clock::now(),
                    started_with: None,
                });
        }
        self.checks.retain(|name, _| plan.checks.contains_key(name));
        for (name, check) in &plan.checks {
            self.checks
                .entry(name.clone())
                .or_insert_with(|| CheckState {
                    status: match check.startup {
                        Some(Startup::Disabled) => CheckStatus::Inactive,
                        _ => CheckStatus::Up,
                    },
                    failures: 0,
                    successes: 0,
                });
        }
        self.plan = plan;
    }

    /// `GET /v1/services`.
    pub(crate) fn service_infos(&self, names: &[String]) -> Value {
        let infos: Vec<Value> = self
            .plan
            .services
            .iter()
            .filter(|(name, _)| names.is_empty() || names.contains(name))
            .map(|(name, service)| {
                let state = self.services.get(name);
                let startup = match service.startup {
                    Some(Startup::Enabled) => "enabled",
                    _ => "disabled",
                };
                json!({
                    "name": name,
                    "startup": startup,
                    "current": state.map_or("inactive", |s| s.current.as_str()),
                    "current-since": state.map(|s| s.since.clone()),
                })
            })
            .collect();
        Value::Array(infos)
    }

    /// `POST /v1/services`: runs the action at once and records it as a change.
    pub(crate) fn service_action(
        &mut self,
        action: &str,
        names: Vec<String>,
    ) -> Result<u64, ApiError> {
        let mut names = names;
        match action {
            "replan" | "autostart" if !names.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "{action} accepts no service names"
                )));
            }
            "replan" | "autostart" => {}
            "start" | "stop" | "restart" if names.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "must specify services for {action} action"
                )));
            }
            "start" | "stop" | "restart" => {}
            other => return Err(ApiError::bad_request(format!("invalid action {other:?}"))),
        }
        if action == "autostart" {
            names = self.enabled_services();
            if names.is_empty() {
                return Err(ApiError {
                    status: 400,
                    message: "no default services".into(),
                    kind: Some("no-default-services"),
                });
            }
        }
        let cannot = |e: String| ApiError::bad_request(format!("cannot {action} services: {e}"));
        let mut tasks = Vec::new();
        let requested = names.clone();
        match action {
            "start" | "autostart" => {
                let order = self.start_order(&names).map_err(cannot)?;
                self.start(&order, &mut tasks);
            }
            "stop" => {
                let order = self.stop_order(&names).map_err(cannot)?;
                self.stop(&order, &mut tasks);
            }
            "restart" => {
                let stop = self.stop_order(&names).map_err(cannot)?;
                let stop: Vec<String> = stop.into_iter().filter(|n| names.contains(n)).collect();
                let start = self.start_order(&names).map_err(cannot)?;
                self.stop(&stop, &mut tasks);
                self.start(&start, &mut tasks);
            }
            _ => {
                // replan: restart what changed, start what should run and does not.
                let changed: Vec<String> = self
                    .services
                    .iter()
                    .filter(|(name, s)| {
                        s.current == ServiceStatus::Active
                            && s.started_with.as_ref() != self.plan.services.get(*name)
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                let mut start: Vec<String> = changed.clone();
                for name in self.enabled_services() {
                    let active = self
                        .services
                        .get(&name)
                        .is_some_and(|s| s.current == ServiceStatus::Active);
                    if !active && !start.contains(&name) {
                        start.push(name);
                    }
                }
                let start = self.start_order(&start).map_err(cannot)?;
                self.stop(&changed, &mut tasks);
                self.start(&start, &mut tasks);
                names = start;
            }
        }
        let summary = match (names.first(), names.len()) {
            (None, _) => format!("{} - no services", title(action)),
            (Some(first), 1) => format!("{} service {first:?}", title(action)),
            (Some(first), n) => format!("{} service {first:?} and {} more", title(action), n - 1),
        };
        let mut data = serde_json::Map::new();
        if !requested.is_empty() || !names.is_empty() {
            let listed = if requested.is_empty() {
                &names
            } else {
                &requested
            };
            data.insert("service-names".into(), json!(listed));
        }
        Ok(self.record_change(action, &summary, tasks, data))
    }

    fn enabled_services(&self) -> Vec<String> {
        self.plan
            .services
            .iter()
            .filter(|(_, s)| s.startup == Some(Startup::Enabled))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The named services and everything they require, requirements first.
    fn start_order(&self, names: &[String]) -> Result<Vec<String>, String> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in names {
            self.visit_requires(name, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit_requires(
        &self,
        name: &str,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), String> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let service = self
            .plan
            .services
            .get(name)
            .ok_or_else(|| format!("service {name:?} does not exist"))?;
        for required in &service.requires {
            self.visit_requires(required, seen, order)?;
        }
        order.push(name.to_string());
        Ok(())
    }

    /// The named services and every service requiring them, dependents first.
    fn stop_order(&self, names: &[String]) -> Result<Vec<String>, String> {
        let mut order: Vec<String> = Vec::new();
        let mut pending: Vec<String> = names.to_vec();
        while let Some(name) = pending.pop() {
            if !self.plan.services.contains_key(&name) {
                return Err(format!("service {name:?} does not exist"));
            }
            if order.contains(&name) {
                continue;
            }
            order.push(name.clone());
            for (dependent, service) in &self.plan.services {
                if service.requires.contains(&name) {
                    pending.push(dependent.clone());
                }
            }
        }
        order.reverse();
        Ok(order)
    }

    fn start(&mut self, names: &[String], tasks: &mut Vec<TaskOutcome>) {
        for name in names {
            let summary = format!("Start service {name:?}");
            let config = self.plan.services.get(name).cloned();
            let Some(state) = self.services.get_mut(name) else {
                continue;
            };
            if let Some(message) = self.start_failures.get(name) {
                state.current = ServiceStatus::Error;
                state.since = clock::now();
                tasks.push(TaskOutcome {
                    kind: "start",
                    summary,
                    error: Some(message.clone()),
                    log: vec![format!("{} ERROR {message}", clock::now())],
                });
                continue;
            }
            let mut log = Vec::new();
            if state.current == ServiceStatus::Active {
                log.push(format!(
                    "{} INFO Service {name:?} already started.",
                    clock::now()
                ));
            } else {
                state.current = ServiceStatus::Active;
                state.since = clock::now();
            }
            state.started_with = config;
            tasks.push(TaskOutcome {
                kind: "start",
                summary,
                error: None,
                log,
            });
        }
    }

    fn stop(&mut self, names: &[String], tasks: &mut Vec<TaskOutcome>) {
        for name in names {
            if let Some(state) = self.services.get_mut(name)
                && state.current != ServiceStatus::Inactive
            {
                state.current = ServiceStatus::Inactive;
                state.since = clock::now();
                state.started_with = None;
            }
            tasks.push(TaskOutcome {
                kind: "stop",
                summary: format!("Stop service {name:?}"),
                error: None,
                log: Vec::new(),
            });
        }
    }

    fn record_change(
        &mut self,
        kind: &str,
        summary: &str,
        tasks: Vec<TaskOutcome>,
        data: serde_json::Map<String, Value>,
    ) -> u64 {
        let now = clock::now();
        let failed: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.error.as_ref().map(|e| format!("- {} ({e})", t.summary)))
            .collect();
        let err = (!failed.is_empty())
            .then(|| format!("cannot perform the following tasks:\n{}", failed.join("\n")));
        let tasks: Vec<Value> = tasks
            .into_iter()
            .map(|t| {
                self.next_task += 1;
                json!({
                    "id": self.next_task.to_string(),
                    "kind": t.kind,
                    "summary": t.summary,
                    "status": if t.error.is_some() { "Error" } else { "Done" },
                    "log": t.log,
                    "progress": {"label": "", "done": 1, "total": 1},
                    "spawn-time": now,
                    "ready-time": now,
                })
            })
            .collect();
        let mut info = json!({
            "kind": kind,
            "summary": summary,
            "status": if err.is_some() { "Error" } else { "Done" },
            "tasks": tasks,
            "ready": true,
            "spawn-time": now,
            "ready-time": now,
            "data": data,
        });
        if let Some(err) = err {
            info["err"] = json!(err);
        }
        let (ready, _) = watch::channel(true);
        self.insert_change(info, ready)
    }

    /// Stores a change and returns its id.
    pub(crate) fn insert_change(&mut self, mut info: Value, ready: watch::Sender<bool>) -> u64 {
        self.next_change += 1;
        let id = self.next_change;
        info["id"] = json!(id.to_string());
        self.changes.insert(id, ChangeRecord { info, ready });
        id
    }

    /// A new task id (for exec).
    pub(crate) fn new_task_id(&mut self) -> u64 {
        self.next_task += 1;
        self.next_task
    }

    /// `GET /v1/checks`.
    pub(crate) fn check_infos(&self, level: Option<&str>, names: &[String]) -> Value {
        let infos: Vec<Value> = self
            .plan
            .checks
            .iter()
            .filter(|(name, _)| names.is_empty() || names.contains(name))
            .filter(|(_, check)| {
                level.is_none_or(|l| check.level.as_ref().is_some_and(|cl| cl.as_str() == l))
            })
            .filter_map(|(name, check)| {
                let state = self.checks.get(name)?;
                let mut info = json!({
                    "name": name,
                    "startup": match check.startup {
                        Some(Startup::Disabled) => "disabled",
                        _ => "enabled",
                    },
                    "status": state.status.as_str(),
                    "successes": state.successes,
                    "threshold": check.threshold.unwrap_or(3),
                });
                if let Some(level) = &check.level {
                    info["level"] = json!(level.as_str());
                }
                if state.failures > 0 {
                    info["failures"] = json!(state.failures);
                }
                Some(info)
            })
            .collect();
        Value::Array(infos)
    }

    /// `POST /v1/checks`.
    pub(crate) fn checks_action(
        &mut self,
        action: &str,
        names: &[String],
    ) -> Result<Vec<String>, ApiError> {
        if names.is_empty() {
            return Err(ApiError::bad_request(format!(
                "must specify checks for {action} action"
            )));
        }
        if action != "start" && action != "stop" {
            return Err(ApiError::bad_request(format!("invalid action {action:?}")));
        }
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !self.checks.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(format!(
                "cannot {action} checks: cannot find checks in plan: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut changed = Vec::new();
        for name in names {
            let Some(state) = self.checks.get_mut(name) else {
                continue;
            };
            let running = state.status != CheckStatus::Inactive;
            match (action, running) {
                ("start", false) => {
                    *state = CheckState {
                        status: CheckStatus::Up,
                        failures: 0,
                        successes: 0,
                    };
                    changed.push(name.clone());
                }
                ("stop", true) => {
                    state.status = CheckStatus::Inactive;
                    state.failures = 0;
                    changed.push(name.clone());
                }
                _ => {}
            }
        }
        Ok(changed)
    }

    /// Records an occurrence of a notice; returns its id.
    pub(crate) fn add_notice(
        &mut self,
        notice_type: NoticeType,
        key: &str,
        data: BTreeMap<String, String>,
    ) -> u64 {
        let now = clock::now();
        if let Some(existing) = self
            .notices
            .iter_mut()
            .find(|n| n.notice_type == notice_type && n.key == key)
        {
            existing.occurrences += 1;
            existing.last_occurred = now.clone();
            existing.last_repeated = now;
            existing.last_data = data;
            return existing.id;
        }
        self.next_notice += 1;
        self.notices.push(NoticeRecord {
            id: self.next_notice,
            notice_type,
            key: key.to_string(),
            first_occurred: now.clone(),
            last_occurred: now.clone(),
            last_repeated: now,
            occurrences: 1,
            last_data: data,
        });
        self.next_notice
    }
}

/// Pebble's layer errors read like "cannot parse layer ..." or the rule broken.
fn layer_message(error: crate::pebble::Error) -> String {
    match error {
        crate::pebble::Error::Layer(message) => message,
        other => other.to_string(),
    }
}

fn title(action: &str) -> String {
    let mut chars = action.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Checks a custom notice key against Pebble's rule: `domain.tld/path`, lowercase letters,
/// digits and inner dashes.
pub(crate) fn valid_custom_key(key: &str) -> bool {
    fn word(s: &str) -> bool {
        !s.is_empty()
            && s.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    }
    let Some((domain, path)) = key.split_once('/') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    key.len() <= 256
        && labels.len() >= 2
        && labels.iter().all(|l| word(l))
        && path.split('/').all(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_keys_follow_pebble_rule() {
        assert!(valid_custom_key("example.com/path"));
        assert!(valid_custom_key("canonical.com/my-charm/backup-done"));
        for bad in [
            "example.com",
            "nodot/path",
            "Example.com/x",
            "a.b/",
            "a.b/-x",
        ] {
            assert!(!valid_custom_key(bad), "{bad}");
        }
    }
}
