//! The operations: what `juju deploy`, `integrate`, `config`, `refresh`, `run`, ... do to the
//! model, and the hooks each queues.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::hook::{Hook, HookCall};
use super::{
    ActionOutcome, ActionStatus, Deploy, Exit, HookRecord, Model, ModelError, commit, hook_failed,
    invalid, topology,
};
use crate::charm::{CharmMeta, OptionType, Role, Scope};
use crate::state::{AppState, Bag, ModelState, RelationEndpoint, SecretOwner, SecretState, Status};

impl Model {
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
            let hooks = topology::removal_hooks(state, unit);
            topology::mark_dying(state, &hooks);
            Ok(hooks)
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
            let hooks = topology::unrelate_hooks(state, relation);
            topology::mark_dying(state, &hooks);
            Ok(hooks)
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
    /// `config-changed` (and `*-pebble-ready`: the pod restarts, with fresh Pebbles).
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
        self.workloads.restart_app(app);
        self.enqueue(hooks)
    }

    /// Makes `unit` the leader: `leader-elected` on it, `leader-settings-changed` on the
    /// others.
    pub fn set_leader(&mut self, unit: &str) -> Result<(), ModelError> {
        let hooks = self.store.update(|state| -> Result<_, ModelError> {
            if state.unit(unit).is_none() {
                return invalid(format!("unit {unit:?} not found"));
            }
            Ok(commit::elect(state, ModelState::app_of_unit(unit), unit))
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
        let (follow, run) = self.finish(&call, succeeded, exit.as_ref().ok())?;
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
