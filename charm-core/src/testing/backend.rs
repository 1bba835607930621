//! An in-memory [`Backend`] over a testing [`State`], following Juju's rules strictly (its
//! permission checks are Juju's, independent of the model's own), and recording the command
//! line each call would have run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::state::{Secret, State};
use crate::backend::{Backend, BackendError, GoalState, RelationRef, StorageInfo};
use crate::context::StorageId;
use crate::event::RelationId;
use crate::log::{LogLevel, LogLine};
use crate::metadata::{Metadata, Role};
use crate::network::{Address, BindAddress, Network, Port};
use crate::secret::{SecretGet, SecretInfo, SecretOwner, SecretSpec};
use crate::status::Status;

/// What the in-memory Juju holds.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub state: State,
    pub unit: String,
    pub app: String,
    pub peers: Vec<String>,
    /// Controller-side unit state (`state-get`/`state-set`).
    pub juju_state: BTreeMap<String, String>,
    pub calls: Vec<String>,
    next_secret: u64,
}

/// The testing backend. Cheap to clone: clones share the same world.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    pub(crate) world: Rc<RefCell<World>>,
}

impl MemoryBackend {
    pub(crate) fn new(state: State, unit: &str, meta: &Metadata) -> MemoryBackend {
        let app = unit.split('/').next().unwrap_or(unit).to_string();
        let peers = meta
            .endpoints
            .values()
            .filter(|e| e.role == Role::Peers)
            .map(|e| e.name.clone())
            .collect();
        MemoryBackend {
            world: Rc::new(RefCell::new(World {
                state,
                unit: unit.to_string(),
                app,
                peers,
                ..Default::default()
            })),
        }
    }

    /// The commands run so far.
    pub fn calls(&self) -> Vec<String> {
        self.world.borrow().calls.clone()
    }

    fn record(&self, call: String) {
        self.world.borrow_mut().calls.push(call);
    }
}

fn failed(command: &str, stderr: &str) -> BackendError {
    BackendError::ToolFailed {
        command: command.to_string(),
        status: "exit status 1".into(),
        stderr: stderr.to_string(),
    }
}

fn not_found(rel: RelationRef<'_>) -> BackendError {
    BackendError::RelationNotFound {
        relation: rel.to_string(),
        stderr: format!("ERROR relation {} not found", rel.id),
    }
}

impl World {
    fn relation(&self, rel: RelationRef<'_>) -> Result<&super::state::Relation, BackendError> {
        self.state
            .relations
            .iter()
            .find(|r| r.id == rel.id)
            .ok_or_else(|| not_found(rel))
    }

    fn relation_mut(
        &mut self,
        rel: RelationRef<'_>,
    ) -> Result<&mut super::state::Relation, BackendError> {
        self.state
            .relations
            .iter_mut()
            .find(|r| r.id == rel.id)
            .ok_or_else(|| not_found(rel))
    }

    fn secret(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
    ) -> Result<&mut Secret, BackendError> {
        let found = self.state.secrets.iter_mut().find(|s| match (id, label) {
            (Some(id), _) => s.id == id || s.id.ends_with(id.trim_start_matches("secret:")),
            (None, Some(l)) => s.label.as_deref() == Some(l),
            (None, None) => false,
        });
        found.ok_or_else(|| BackendError::SecretNotFound {
            secret: id.or(label).unwrap_or_default().to_string(),
            stderr: "ERROR secret not found".into(),
        })
    }

    /// Juju refuses to manage a secret this unit does not own (or, for application secrets,
    /// as a non-leader).
    fn check_manage(&mut self, id: &str, command: &str) -> Result<(), BackendError> {
        let leader = self.state.leader;
        let secret = self.secret(Some(id), None)?;
        match secret.owner {
            Some(SecretOwner::Unit) => Ok(()),
            Some(SecretOwner::Application) if leader => Ok(()),
            _ => Err(BackendError::PermissionDenied {
                command: command.to_string(),
                stderr: "ERROR permission denied".into(),
            }),
        }
    }
}

impl Backend for MemoryBackend {
    fn config_get(&mut self) -> Result<Map<String, Value>, BackendError> {
        self.record("config-get --format=json".into());
        let w = self.world.borrow();
        Ok(w.state
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect())
    }

    fn is_leader(&mut self) -> Result<bool, BackendError> {
        self.record("is-leader --format=json".into());
        Ok(self.world.borrow().state.leader)
    }

    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        self.record(format!("relation-ids {endpoint} --format=json"));
        let w = self.world.borrow();
        Ok(w.state
            .relations
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .map(|r| r.id)
            .collect())
    }

    fn relation_list(&mut self, relation: RelationRef<'_>) -> Result<Vec<String>, BackendError> {
        self.record(format!("relation-list --format=json -r {relation}"));
        let w = self.world.borrow();
        Ok(w.relation(relation)?.remote_units.keys().cloned().collect())
    }

    fn relation_remote_app(
        &mut self,
        relation: RelationRef<'_>,
    ) -> Result<Option<String>, BackendError> {
        self.record(format!("relation-list --format=json -r {relation} --app"));
        let w = self.world.borrow();
        Ok(Some(w.relation(relation)?.remote_app.clone()))
    }

    fn relation_get(
        &mut self,
        relation: RelationRef<'_>,
        member: &str,
        app: bool,
    ) -> Result<BTreeMap<String, String>, BackendError> {
        let command = format!(
            "relation-get --format=json -r {relation}{} - {member}",
            if app { " --app" } else { "" }
        );
        self.record(command.clone());
        let w = self.world.borrow();
        let r = w.relation(relation)?;
        let peer = w.peers.contains(&r.endpoint);
        let data = if app && member == w.app {
            if !w.state.leader && !peer {
                return Err(BackendError::PermissionDenied {
                    command,
                    stderr: "ERROR permission denied".into(),
                });
            }
            // On a peer relation both sides are this application: one bag.
            &r.local_app_data
        } else if app && member == r.remote_app {
            &r.remote_app_data
        } else if !app && member == w.unit {
            &r.local_unit_data
        } else if let Some(d) = r.remote_units.get(member).filter(|_| !app) {
            d
        } else {
            return Err(failed(
                &command,
                &format!("ERROR cannot read settings for {member}: not found"),
            ));
        };
        Ok(data.clone())
    }

    fn relation_set(
        &mut self,
        relation: RelationRef<'_>,
        app: bool,
        changes: &BTreeMap<String, String>,
    ) -> Result<(), BackendError> {
        let command = format!(
            "relation-set -r {relation}{} --file -",
            if app { " --app" } else { "" }
        );
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        let leader = w.state.leader;
        let r = w.relation_mut(relation)?;
        if app && !leader {
            return Err(BackendError::PermissionDenied {
                command,
                stderr: "ERROR cannot write relation settings: permission denied".into(),
            });
        }
        let bag = if app {
            &mut r.local_app_data
        } else {
            &mut r.local_unit_data
        };
        for (k, v) in changes {
            if v.is_empty() {
                bag.remove(k);
            } else {
                bag.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    fn status_get(&mut self, app: bool) -> Result<Option<Status>, BackendError> {
        self.record(format!(
            "status-get --include-data --format=json --application={}",
            if app { "True" } else { "False" }
        ));
        let w = self.world.borrow();
        Ok(if app {
            w.state.app_status.clone()
        } else {
            w.state.unit_status.clone()
        })
    }

    fn status_set(&mut self, app: bool, status: &Status) -> Result<(), BackendError> {
        let command = format!(
            "status-set --application={} {} -- {}",
            if app { "True" } else { "False" },
            status.name(),
            status.message()
        );
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        if app {
            if !w.state.leader {
                return Err(BackendError::NotLeader {
                    command,
                    stderr: "ERROR this unit is not the leader".into(),
                });
            }
            w.state.app_status = Some(status.clone());
        } else {
            w.state.unit_status = Some(status.clone());
        }
        Ok(())
    }

    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        self.record(format!("application-version-set -- {version}"));
        self.world.borrow_mut().state.workload_version = Some(version.to_string());
        Ok(())
    }

    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        // Not recorded in tool_calls: the harness captures lines directly.
        self.world.borrow_mut().state.logs.push(LogLine {
            level,
            message: message.to_string(),
        });
        Ok(())
    }

    fn action_get(&mut self) -> Result<Map<String, Value>, BackendError> {
        self.record("action-get --format=json".into());
        Ok(self.world.borrow().state.action_params.clone())
    }

    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let args: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.record(format!("action-set {}", args.join(" ")));
        self.world
            .borrow_mut()
            .state
            .action_results
            .extend(results.clone());
        Ok(())
    }

    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        self.record(format!("action-log -- {message}"));
        self.world
            .borrow_mut()
            .state
            .action_logs
            .push(message.to_string());
        Ok(())
    }

    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        self.record(format!("action-fail -- {message}"));
        self.world.borrow_mut().state.action_failure = Some(message.to_string());
        Ok(())
    }

    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<Network, BackendError> {
        let r = relation.map(|r| format!(" -r {r}")).unwrap_or_default();
        self.record(format!("network-get --format=json{r} {binding}"));
        let w = self.world.borrow();
        Ok(w.state.networks.get(binding).cloned().unwrap_or_else(|| {
            // The documentation address range, as ops' testing uses.
            Network {
                bind_addresses: vec![BindAddress {
                    mac_address: String::new(),
                    interface_name: "eth0".into(),
                    addresses: vec![Address {
                        hostname: String::new(),
                        value: "192.0.2.0".into(),
                        cidr: "192.0.2.0/24".into(),
                    }],
                }],
                egress_subnets: vec!["192.0.2.0/24".into()],
                ingress_addresses: vec!["192.0.2.0".into()],
            }
        }))
    }

    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        self.record("goal-state --format=json".into());
        let w = self.world.borrow();
        let planned = w.state.planned_units.unwrap_or(1);
        let mut units: BTreeMap<String, String> = (0..planned)
            .map(|i| (format!("{}/{i}", w.app), "active".to_string()))
            .collect();
        // With no unit planned the application is going away: Juju lists this unit as dying.
        let own = if planned == 0 { "dying" } else { "active" };
        units.insert(w.unit.clone(), own.into());
        while units.len() > planned.max(1) {
            // Keep this unit; drop the highest-numbered others.
            let last = units.keys().rfind(|u| **u != w.unit).cloned();
            match last {
                Some(u) => units.remove(&u),
                None => break,
            };
        }
        let mut relations: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in &w.state.relations {
            let entry = relations.entry(r.endpoint.clone()).or_default();
            entry.insert(r.remote_app.clone(), "joined".into());
            for u in r.remote_units.keys() {
                entry.insert(u.clone(), "active".into());
            }
        }
        Ok(GoalState { units, relations })
    }

    fn resource_get(&mut self, name: &str) -> Result<PathBuf, BackendError> {
        let command = format!("resource-get {name}");
        self.record(command.clone());
        self.world
            .borrow()
            .state
            .resources
            .get(name)
            .cloned()
            .ok_or_else(|| {
                failed(
                    &command,
                    &format!("ERROR could not download resource: resource#{name} not found"),
                )
            })
    }

    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        self.record("opened-ports --format=json".into());
        Ok(self
            .world
            .borrow()
            .state
            .opened_ports
            .iter()
            .copied()
            .collect())
    }

    fn open_port(&mut self, port: &Port) -> Result<(), BackendError> {
        self.record(format!("open-port {port}"));
        self.world.borrow_mut().state.opened_ports.insert(*port);
        Ok(())
    }

    fn close_port(&mut self, port: &Port) -> Result<(), BackendError> {
        self.record(format!("close-port {port}"));
        self.world.borrow_mut().state.opened_ports.remove(port);
        Ok(())
    }

    fn secret_add(&mut self, spec: &SecretSpec) -> Result<String, BackendError> {
        let keys: Vec<String> = spec
            .content
            .keys()
            .map(|k| format!("{k}#file=<tmp>/{k}"))
            .collect();
        let command = format!(
            "secret-add{} --owner {} {}",
            spec.label
                .as_ref()
                .map(|l| format!(" --label {l}"))
                .unwrap_or_default(),
            spec.owner.as_str(),
            keys.join(" ")
        );
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        if spec.owner == SecretOwner::Application && !w.state.leader {
            return Err(BackendError::PermissionDenied {
                command,
                stderr: "ERROR permission denied".into(),
            });
        }
        w.next_secret += 1;
        let id = format!("secret:added{:014}", w.next_secret);
        w.state.secrets.push(Secret {
            id: id.clone(),
            label: spec.label.clone(),
            owner: Some(spec.owner),
            revision: 1,
            content: spec.content.clone(),
            latest: None,
            description: spec.description.clone(),
            expire: spec.expire.clone(),
            rotate: spec.rotate,
            grants: Default::default(),
            removed_revisions: Default::default(),
        });
        Ok(id)
    }

    fn secret_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, BackendError> {
        let mut command = "secret-get --format=json".to_string();
        if let Some(id) = id {
            command.push_str(&format!(" {id}"));
        }
        if let Some(l) = label {
            command.push_str(&format!(" --label {l}"));
        }
        match mode {
            SecretGet::Tracked => {}
            SecretGet::Refresh => command.push_str(" --refresh"),
            SecretGet::Peek => command.push_str(" --peek"),
        }
        self.record(command);
        let mut w = self.world.borrow_mut();
        let secret = w.secret(id, label)?;
        if id.is_some()
            && let Some(l) = label
        {
            // With both, Juju looks up by id and sets the label.
            secret.label = Some(l.to_string());
        }
        // Owners always see the latest revision.
        let owner = secret.owner.is_some();
        Ok(match mode {
            SecretGet::Tracked if !owner => secret.content.clone(),
            SecretGet::Peek | SecretGet::Tracked => secret
                .latest
                .clone()
                .unwrap_or_else(|| secret.content.clone()),
            SecretGet::Refresh => {
                if let Some(latest) = secret.latest.take() {
                    secret.content = latest;
                    secret.revision += 1;
                }
                secret.content.clone()
            }
        })
    }

    fn secret_info_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
    ) -> Result<SecretInfo, BackendError> {
        let command = match (id, label) {
            (Some(id), _) => format!("secret-info-get --format=json {id}"),
            (None, l) => format!("secret-info-get --format=json --label {}", l.unwrap_or("")),
        };
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        let secret = w.secret(id, label)?;
        if secret.owner.is_none() {
            return Err(BackendError::PermissionDenied {
                command,
                stderr: "ERROR permission denied".into(),
            });
        }
        Ok(SecretInfo {
            id: secret.id.clone(),
            revision: secret.revision,
            label: secret.label.clone(),
            description: secret.description.clone(),
            expiry: secret.expire.clone(),
            rotation: secret.rotate,
            rotates: None,
        })
    }

    fn secret_set(&mut self, id: &str, spec: &SecretSpec) -> Result<(), BackendError> {
        let command = format!("secret-set {id}");
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        w.check_manage(id, &command)?;
        let secret = w.secret(Some(id), None)?;
        if !spec.content.is_empty() {
            secret.content = spec.content.clone();
            secret.latest = None;
            secret.revision += 1;
        }
        if spec.label.is_some() {
            secret.label = spec.label.clone();
        }
        if spec.description.is_some() {
            secret.description = spec.description.clone();
        }
        if spec.expire.is_some() {
            secret.expire = spec.expire.clone();
        }
        if spec.rotate.is_some() {
            secret.rotate = spec.rotate;
        }
        Ok(())
    }

    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError> {
        let u = unit.map(|u| format!(" --unit {u}")).unwrap_or_default();
        let command = format!("secret-grant --relation {relation}{u} {id}");
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        w.check_manage(id, &command)?;
        if !w.state.relations.iter().any(|r| r.id == relation) {
            return Err(BackendError::RelationNotFound {
                relation: relation.to_string(),
                stderr: "ERROR relation not found".into(),
            });
        }
        let secret = w.secret(Some(id), None)?;
        secret.grants.insert((relation.0, unit.map(String::from)));
        Ok(())
    }

    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError> {
        let u = unit.map(|u| format!(" --unit {u}")).unwrap_or_default();
        let command = format!("secret-revoke --relation {relation}{u} {id}");
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        w.check_manage(id, &command)?;
        let secret = w.secret(Some(id), None)?;
        secret.grants.remove(&(relation.0, unit.map(String::from)));
        Ok(())
    }

    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        let r = revision
            .map(|r| format!(" --revision {r}"))
            .unwrap_or_default();
        let command = format!("secret-remove {id}{r}");
        self.record(command.clone());
        let mut w = self.world.borrow_mut();
        w.check_manage(id, &command)?;
        match revision {
            Some(rev) => {
                w.secret(Some(id), None)?.removed_revisions.insert(rev);
            }
            None => {
                let full = w.secret(Some(id), None)?.id.clone();
                w.state.secrets.retain(|s| s.id != full);
            }
        }
        Ok(())
    }

    fn storage_list(&mut self, name: Option<&str>) -> Result<Vec<StorageId>, BackendError> {
        self.record(format!(
            "storage-list --format=json{}",
            name.map(|n| format!(" {n}")).unwrap_or_default()
        ));
        Ok(self
            .world
            .borrow()
            .state
            .storage
            .keys()
            .filter(|s| name.is_none_or(|n| s.name == n))
            .cloned()
            .collect())
    }

    fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, BackendError> {
        let command = format!("storage-get --format=json -s {id}");
        self.record(command.clone());
        let w = self.world.borrow();
        let location = w
            .state
            .storage
            .get(id)
            .ok_or_else(|| failed(&command, &format!("ERROR storage {id} not found")))?;
        Ok(StorageInfo {
            kind: "filesystem".into(),
            location: location.clone(),
        })
    }

    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        self.record("state-get --format=json".into());
        Ok(self.world.borrow().juju_state.clone())
    }

    fn state_set(&mut self, values: &BTreeMap<String, String>) -> Result<(), BackendError> {
        self.record("state-set --file -".into());
        self.world.borrow_mut().juju_state.extend(values.clone());
        Ok(())
    }

    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        self.record(format!("state-delete {key}"));
        self.world.borrow_mut().juju_state.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(planned_units: Option<usize>) -> usize {
        let meta = Metadata::from_packed("name: app\n", None, None).unwrap();
        let state = State {
            planned_units,
            ..State::default()
        };
        let mut backend = MemoryBackend::new(state, "app/1", &meta);
        backend.goal_state().unwrap().planned_units()
    }

    #[test]
    fn goal_state_gives_the_planned_units_asked_for() {
        assert_eq!(planned(None), 1);
        assert_eq!(planned(Some(3)), 3);
        // The application is being removed: this unit is dying too.
        assert_eq!(planned(Some(0)), 0);
    }
}
