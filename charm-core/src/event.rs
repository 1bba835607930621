//! Juju events, parsed from `JUJU_DISPATCH_PATH` and the charm's metadata.
//!
//! Hook names of relation, storage and Pebble events start with a name from the metadata
//! (`backup-relation-changed`, `data-storage-attached`, `cloudcasa-pebble-ready`); those names
//! may contain hyphens themselves, so the prefix is matched against the declared names rather
//! than split on `-`. A hook this charm does not declare (an endpoint removed by an upgrade, a
//! hook from a newer Juju) parses to `None`: the entry point logs it at debug level and exits 0,
//! as ops does, so rollbacks keep working.
//!
//! ops' `collect-status` is not an event here: [`crate::Charm::collect_status`] runs after every
//! event instead.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::context::{Context, ContextError, StorageId};
use crate::metadata::Metadata;

/// A relation's id, the number in `JUJU_RELATION_ID=backup:7`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct RelationId(
    /// The number itself.
    pub u64,
);

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The relation an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelationEvent {
    /// The endpoint (`JUJU_RELATION`), as named in `metadata.yaml`.
    pub endpoint: String,
    /// The relation's id (`JUJU_RELATION_ID`).
    pub id: RelationId,
    /// The application at the other end (`JUJU_REMOTE_APP`).
    pub remote_app: String,
    /// Set for joined, changed and departed.
    pub remote_unit: Option<String>,
    /// Set for departed: the unit leaving (may be this unit).
    pub departing_unit: Option<String>,
}

/// A Pebble notice (`JUJU_NOTICE_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notice {
    /// Pebble's id of the notice (`JUJU_NOTICE_ID`); fetch the rest with
    /// [`crate::Model::event_notice`].
    pub id: String,
    /// Its type (`JUJU_NOTICE_TYPE`), e.g. `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its key (`JUJU_NOTICE_KEY`), e.g. `example.com/db-backup-done`.
    pub key: String,
}

/// The secret a secret event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretEvent {
    /// The secret's URI (`JUJU_SECRET_ID`), `secret:...`.
    pub id: String,
    /// Its label for this unit (`JUJU_SECRET_LABEL`), if it has one.
    pub label: Option<String>,
    /// Set for secret-remove and secret-expired.
    pub revision: Option<u64>,
}

/// Every kind of hook Juju runs, plus actions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// First hook of a unit, once the charm is unpacked: install what the workload needs.
    Install,
    /// After install's config-changed, and after every reboot of a machine or restart of a
    /// Kubernetes pod.
    Start,
    /// Before the unit goes away; on Kubernetes also when the pod is merely restarted, so
    /// clean up only what a restart would leave broken.
    Stop,
    /// Last hook of a unit, after stop: remove what the charm created.
    Remove,
    /// The configuration changed (also after install, upgrade-charm and on agent restarts).
    ConfigChanged,
    /// Every five minutes by default (`update-status-hook-interval`): refresh the status.
    UpdateStatus,
    /// A new revision of the charm was deployed (`juju refresh`).
    UpgradeCharm,
    /// This unit just became the leader.
    LeaderElected,
    /// The leader changed leader settings (deprecated by Juju; fires on non-leaders).
    LeaderSettingsChanged,
    /// Before a machine's operating system is upgraded (machine charms).
    PreSeriesUpgrade,
    /// After a machine's operating system was upgraded (machine charms).
    PostSeriesUpgrade,
    /// Juju asks for metrics (`add-metric`); deferred events are not re-run here, as in ops.
    CollectMetrics,
    /// `<endpoint>-relation-created`: a relation exists, before any remote unit joins.
    RelationCreated(RelationEvent),
    /// `<endpoint>-relation-joined`: a remote unit entered the relation.
    RelationJoined(RelationEvent),
    /// `<endpoint>-relation-changed`: a remote bag changed (or a unit just joined).
    RelationChanged(RelationEvent),
    /// `<endpoint>-relation-departed`: a remote unit (or this one) is leaving the relation.
    RelationDeparted(RelationEvent),
    /// `<endpoint>-relation-broken`: the relation is gone; [`crate::Model::relations`] no
    /// longer lists it.
    RelationBroken(RelationEvent),
    /// `<name>-storage-attached`: a storage instance is ready to use.
    StorageAttached {
        /// The instance (`JUJU_STORAGE_ID`).
        storage: StorageId,
    },
    /// `<name>-storage-detaching`: a storage instance is about to go; stop using it.
    StorageDetaching {
        /// The instance (`JUJU_STORAGE_ID`).
        storage: StorageId,
    },
    /// `<container>-pebble-ready`: the workload container's Pebble answers.
    PebbleReady {
        /// The container name from `metadata.yaml`.
        container: String,
    },
    /// `<container>-pebble-custom-notice`: the workload recorded a custom notice.
    PebbleCustomNotice {
        /// The container name.
        container: String,
        /// The notice (id, type, key).
        notice: Notice,
    },
    /// `<container>-pebble-check-failed`: a Pebble check reached its failure threshold.
    PebbleCheckFailed {
        /// The container name.
        container: String,
        /// The check's name in the plan.
        check: String,
    },
    /// `<container>-pebble-check-recovered`: a failed check succeeds again.
    PebbleCheckRecovered {
        /// The container name.
        container: String,
        /// The check's name in the plan.
        check: String,
    },
    /// A secret this unit observes has a new revision.
    SecretChanged(SecretEvent),
    /// A secret this charm owns reached its expiry time.
    SecretExpired(SecretEvent),
    /// A secret this charm owns is due for rotation.
    SecretRotate(SecretEvent),
    /// A revision of a secret this charm owns is no longer observed: remove it.
    SecretRemove(SecretEvent),
    /// An action the user ran (`juju run unit action`).
    Action {
        /// The action's name from `actions.yaml`.
        name: String,
        /// Juju's id of this run (`JUJU_ACTION_UUID`).
        id: String,
    },
}

const RELATION_KINDS: [&str; 5] = ["created", "joined", "changed", "departed", "broken"];

impl Event {
    /// Parses the event Juju is dispatching. `Ok(None)` means a hook this charm does not know.
    pub fn from_context(ctx: &Context, meta: &Metadata) -> Result<Option<Event>, ContextError> {
        let path = ctx.dispatch_path.as_str();
        let hook = path.rsplit('/').next().unwrap_or(path);
        let missing = |var: &'static str| ContextError::Missing {
            var,
            hook: hook.to_string(),
        };
        if path.starts_with("actions/") {
            let name = ctx.action_name.clone().unwrap_or_else(|| hook.to_string());
            if !meta.actions.contains_key(&name) {
                return Ok(None);
            }
            let id = ctx
                .action_uuid
                .clone()
                .ok_or_else(|| missing("JUJU_ACTION_UUID"))?;
            return Ok(Some(Event::Action { name, id }));
        }
        let simple = match hook {
            "install" => Some(Event::Install),
            "start" => Some(Event::Start),
            "stop" => Some(Event::Stop),
            "remove" => Some(Event::Remove),
            "config-changed" => Some(Event::ConfigChanged),
            "update-status" => Some(Event::UpdateStatus),
            "upgrade-charm" => Some(Event::UpgradeCharm),
            "leader-elected" => Some(Event::LeaderElected),
            "leader-settings-changed" => Some(Event::LeaderSettingsChanged),
            "pre-series-upgrade" => Some(Event::PreSeriesUpgrade),
            "post-series-upgrade" => Some(Event::PostSeriesUpgrade),
            "collect-metrics" => Some(Event::CollectMetrics),
            _ => None,
        };
        if simple.is_some() {
            return Ok(simple);
        }
        if let Some(rest) = hook.strip_prefix("secret-") {
            let secret = || -> Result<SecretEvent, ContextError> {
                Ok(SecretEvent {
                    id: ctx
                        .secret_id
                        .clone()
                        .ok_or_else(|| missing("JUJU_SECRET_ID"))?,
                    label: ctx.secret_label.clone(),
                    revision: ctx.secret_revision,
                })
            };
            let with_revision = || -> Result<SecretEvent, ContextError> {
                let s = secret()?;
                s.revision.ok_or_else(|| missing("JUJU_SECRET_REVISION"))?;
                Ok(s)
            };
            match rest {
                "changed" => return Ok(Some(Event::SecretChanged(secret()?))),
                "rotate" => return Ok(Some(Event::SecretRotate(secret()?))),
                "expired" => return Ok(Some(Event::SecretExpired(with_revision()?))),
                "remove" => return Ok(Some(Event::SecretRemove(with_revision()?))),
                _ => {}
            }
        }
        for endpoint in meta.endpoints.keys() {
            let Some(kind) = hook
                .strip_prefix(endpoint.as_str())
                .and_then(|r| r.strip_prefix("-relation-"))
            else {
                continue;
            };
            if !RELATION_KINDS.contains(&kind) {
                continue;
            }
            let id = ctx.relation_id.ok_or_else(|| missing("JUJU_RELATION_ID"))?;
            if let Some(name) = &ctx.relation_name
                && name != endpoint
            {
                return Err(ContextError::Invalid {
                    var: "JUJU_RELATION",
                    value: name.clone(),
                    reason: format!("hook {hook} is for endpoint `{endpoint}`"),
                });
            }
            let remote_unit = ctx.remote_unit.clone();
            let remote_app = match (&ctx.remote_app, &remote_unit) {
                (Some(app), _) => app.clone(),
                // Juju before 2.8 did not set JUJU_REMOTE_APP; derive it as ops does.
                (None, Some(unit)) => unit
                    .split_once('/')
                    .map(|(app, _)| app.to_string())
                    .ok_or_else(|| ContextError::Invalid {
                        var: "JUJU_REMOTE_UNIT",
                        value: unit.clone(),
                        reason: "expected <application>/<number>".into(),
                    })?,
                (None, None) => return Err(missing("JUJU_REMOTE_APP")),
            };
            // relation-changed has no remote unit when the remote *application* bag changed:
            // Juju 3 then sets JUJU_REMOTE_UNIT empty (ops gives `event.unit = None`).
            if matches!(kind, "joined" | "departed") && remote_unit.is_none() {
                return Err(missing("JUJU_REMOTE_UNIT"));
            }
            let departing_unit = ctx.departing_unit.clone();
            if kind == "departed" && departing_unit.is_none() {
                return Err(missing("JUJU_DEPARTING_UNIT"));
            }
            let rel = RelationEvent {
                endpoint: endpoint.clone(),
                id: RelationId(id),
                remote_app,
                remote_unit,
                departing_unit,
            };
            return Ok(Some(match kind {
                "created" => Event::RelationCreated(rel),
                "joined" => Event::RelationJoined(rel),
                "changed" => Event::RelationChanged(rel),
                "departed" => Event::RelationDeparted(rel),
                _ => Event::RelationBroken(rel),
            }));
        }
        for name in meta.storage.keys() {
            let Some(kind) = hook
                .strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix("-storage-"))
            else {
                continue;
            };
            if !matches!(kind, "attached" | "detaching") {
                continue;
            }
            let storage = ctx
                .storage_id
                .clone()
                .ok_or_else(|| missing("JUJU_STORAGE_ID"))?;
            if &storage.name != name {
                return Err(ContextError::Invalid {
                    var: "JUJU_STORAGE_ID",
                    value: storage.to_string(),
                    reason: format!("hook {hook} is for storage `{name}`"),
                });
            }
            return Ok(Some(if kind == "attached" {
                Event::StorageAttached { storage }
            } else {
                Event::StorageDetaching { storage }
            }));
        }
        for container in meta.containers.keys() {
            let Some(kind) = hook
                .strip_prefix(container.as_str())
                .and_then(|r| r.strip_prefix("-pebble-"))
            else {
                continue;
            };
            if !matches!(
                kind,
                "ready" | "custom-notice" | "check-failed" | "check-recovered"
            ) {
                continue;
            }
            let workload = ctx
                .workload_name
                .clone()
                .ok_or_else(|| missing("JUJU_WORKLOAD_NAME"))?;
            if &workload != container {
                return Err(ContextError::Invalid {
                    var: "JUJU_WORKLOAD_NAME",
                    value: workload,
                    reason: format!("hook {hook} is for container `{container}`"),
                });
            }
            let container = container.clone();
            return Ok(Some(match kind {
                "ready" => Event::PebbleReady { container },
                "custom-notice" => Event::PebbleCustomNotice {
                    container,
                    notice: Notice {
                        id: ctx
                            .notice_id
                            .clone()
                            .ok_or_else(|| missing("JUJU_NOTICE_ID"))?,
                        kind: ctx
                            .notice_type
                            .clone()
                            .ok_or_else(|| missing("JUJU_NOTICE_TYPE"))?,
                        key: ctx
                            .notice_key
                            .clone()
                            .ok_or_else(|| missing("JUJU_NOTICE_KEY"))?,
                    },
                },
                _ => {
                    let check = ctx
                        .check_name
                        .clone()
                        .ok_or_else(|| missing("JUJU_PEBBLE_CHECK_NAME"))?;
                    if kind == "check-failed" {
                        Event::PebbleCheckFailed { container, check }
                    } else {
                        Event::PebbleCheckRecovered { container, check }
                    }
                }
            }));
        }
        Ok(None)
    }

    /// The hook name Juju uses (`backup-relation-changed`); the action name for actions.
    pub fn hook_name(&self) -> String {
        let rel = |r: &RelationEvent, kind: &str| format!("{}-relation-{kind}", r.endpoint);
        match self {
            Event::Install => "install".into(),
            Event::Start => "start".into(),
            Event::Stop => "stop".into(),
            Event::Remove => "remove".into(),
            Event::ConfigChanged => "config-changed".into(),
            Event::UpdateStatus => "update-status".into(),
            Event::UpgradeCharm => "upgrade-charm".into(),
            Event::LeaderElected => "leader-elected".into(),
            Event::LeaderSettingsChanged => "leader-settings-changed".into(),
            Event::PreSeriesUpgrade => "pre-series-upgrade".into(),
            Event::PostSeriesUpgrade => "post-series-upgrade".into(),
            Event::CollectMetrics => "collect-metrics".into(),
            Event::RelationCreated(r) => rel(r, "created"),
            Event::RelationJoined(r) => rel(r, "joined"),
            Event::RelationChanged(r) => rel(r, "changed"),
            Event::RelationDeparted(r) => rel(r, "departed"),
            Event::RelationBroken(r) => rel(r, "broken"),
            Event::StorageAttached { storage } => format!("{}-storage-attached", storage.name),
            Event::StorageDetaching { storage } => format!("{}-storage-detaching", storage.name),
            Event::PebbleReady { container } => format!("{container}-pebble-ready"),
            Event::PebbleCustomNotice { container, .. } => {
                format!("{container}-pebble-custom-notice")
            }
            Event::PebbleCheckFailed { container, .. } => {
                format!("{container}-pebble-check-failed")
            }
            Event::PebbleCheckRecovered { container, .. } => {
                format!("{container}-pebble-check-recovered")
            }
            Event::SecretChanged(_) => "secret-changed".into(),
            Event::SecretExpired(_) => "secret-expired".into(),
            Event::SecretRotate(_) => "secret-rotate".into(),
            Event::SecretRemove(_) => "secret-remove".into(),
            Event::Action { name, .. } => name.clone(),
        }
    }

    /// `JUJU_DISPATCH_PATH` for this event: `hooks/<hook>` or `actions/<name>`.
    pub fn dispatch_path(&self) -> String {
        match self {
            Event::Action { name, .. } => format!("actions/{name}"),
            other => format!("hooks/{}", other.hook_name()),
        }
    }

    /// The name ops gives the event (`backup_relation_changed`, `backup_now_action`), used in
    /// the log lines tools such as jhack parse.
    pub fn ops_name(&self) -> String {
        match self {
            Event::Action { name, .. } => format!("{}_action", name.replace('-', "_")),
            other => other.hook_name().replace('-', "_"),
        }
    }

    /// The relation this event is about, if any.
    pub fn relation(&self) -> Option<&RelationEvent> {
        match self {
            Event::RelationCreated(r)
            | Event::RelationJoined(r)
            | Event::RelationChanged(r)
            | Event::RelationDeparted(r)
            | Event::RelationBroken(r) => Some(r),
            _ => None,
        }
    }

    /// The container of a Pebble event.
    pub fn container(&self) -> Option<&str> {
        match self {
            Event::PebbleReady { container }
            | Event::PebbleCustomNotice { container, .. }
            | Event::PebbleCheckFailed { container, .. }
            | Event::PebbleCheckRecovered { container, .. } => Some(container),
            _ => None,
        }
    }

    /// The secret of a secret event.
    pub fn secret(&self) -> Option<&SecretEvent> {
        match self {
            Event::SecretChanged(s)
            | Event::SecretExpired(s)
            | Event::SecretRotate(s)
            | Event::SecretRemove(s) => Some(s),
            _ => None,
        }
    }

    /// The environment Juju would set for this event (beyond unit, model and version), used by
    /// the testing harness and tools that run a charm the way Juju does.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("JUJU_DISPATCH_PATH", self.dispatch_path())];
        match self {
            Event::Action { name, id } => {
                env.push(("JUJU_HOOK_NAME", String::new()));
                env.push(("JUJU_ACTION_NAME", name.clone()));
                env.push(("JUJU_ACTION_UUID", id.clone()));
                return env;
            }
            other => env.push(("JUJU_HOOK_NAME", other.hook_name())),
        }
        if let Some(r) = self.relation() {
            env.push(("JUJU_RELATION", r.endpoint.clone()));
            env.push(("JUJU_RELATION_ID", format!("{}:{}", r.endpoint, r.id)));
            env.push(("JUJU_REMOTE_APP", r.remote_app.clone()));
            if let Some(u) = &r.remote_unit {
                env.push(("JUJU_REMOTE_UNIT", u.clone()));
            }
            if let Some(u) = &r.departing_unit {
                env.push(("JUJU_DEPARTING_UNIT", u.clone()));
            }
        }
        if let Some(s) = self.secret() {
            env.push(("JUJU_SECRET_ID", s.id.clone()));
            if let Some(l) = &s.label {
                env.push(("JUJU_SECRET_LABEL", l.clone()));
            }
            if let Some(r) = s.revision {
                env.push(("JUJU_SECRET_REVISION", r.to_string()));
            }
        }
        if let Some(c) = self.container() {
            env.push(("JUJU_WORKLOAD_NAME", c.to_string()));
        }
        match self {
            Event::StorageAttached { storage } | Event::StorageDetaching { storage } => {
                env.push(("JUJU_STORAGE_ID", storage.to_string()));
            }
            Event::PebbleCustomNotice { notice, .. } => {
                env.push(("JUJU_NOTICE_ID", notice.id.clone()));
                env.push(("JUJU_NOTICE_TYPE", notice.kind.clone()));
                env.push(("JUJU_NOTICE_KEY", notice.key.clone()));
            }
            Event::PebbleCheckFailed { check, .. } | Event::PebbleCheckRecovered { check, .. } => {
                env.push(("JUJU_PEBBLE_CHECK_NAME", check.clone()));
            }
            _ => {}
        }
        env
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Action { id, .. } => write!(f, "{}[{id}]", self.ops_name()),
            other => match other.relation() {
                Some(r) => write!(f, "{}[{}]", other.ops_name(), r.id),
                None => f.write_str(&other.ops_name()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Env;

    fn meta() -> Metadata {
        Metadata::from_packed(
            r#"
name: demo
requires:
  backup: backup
  backup-relation: weird
provides:
  web-api: http
peers:
  cluster: demo-peers
containers:
  cloud-casa:
    resource: img
resources:
  img: {type: oci-image}
storage:
  data-dir: {type: filesystem}
"#,
            None,
            Some("backup-now:\n  params: {}\n"),
        )
        .unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> Result<Context, ContextError> {
        let mut env: Env = [
            ("JUJU_UNIT_NAME", "demo/0"),
            ("JUJU_MODEL_NAME", "m"),
            ("JUJU_MODEL_UUID", "u"),
            ("JUJU_VERSION", "3.6.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            env.insert(k.to_string(), v.to_string());
        }
        Context::from_env(&env)
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<Event>, ContextError> {
        Event::from_context(&ctx(pairs)?, &meta())
    }

    fn every_event() -> Vec<Event> {
        let rel = |endpoint: &str, unit: Option<&str>, departing: Option<&str>| RelationEvent {
            endpoint: endpoint.into(),
            id: RelationId(3),
            remote_app: "remote".into(),
            remote_unit: unit.map(String::from),
            departing_unit: departing.map(String::from),
        };
        let secret = |rev: Option<u64>| SecretEvent {
            id: "secret:abc".into(),
            label: Some("creds".into()),
            revision: rev,
        };
        let storage = StorageId {
            name: "data-dir".into(),
            index: 1,
        };
        vec![
            Event::Install,
            Event::Start,
            Event::Stop,
            Event::Remove,
            Event::ConfigChanged,
            Event::UpdateStatus,
            Event::UpgradeCharm,
            Event::LeaderElected,
            Event::LeaderSettingsChanged,
            Event::PreSeriesUpgrade,
            Event::PostSeriesUpgrade,
            Event::CollectMetrics,
            Event::RelationCreated(rel("backup", None, None)),
            Event::RelationJoined(rel("backup", Some("remote/0"), None)),
            Event::RelationChanged(rel("backup-relation", Some("remote/0"), None)),
            Event::RelationDeparted(rel("web-api", Some("remote/1"), Some("remote/1"))),
            Event::RelationBroken(rel("cluster", None, None)),
            Event::StorageAttached {
                storage: storage.clone(),
            },
            Event::StorageDetaching { storage },
            Event::PebbleReady {
                container: "cloud-casa".into(),
            },
            Event::PebbleCustomNotice {
                container: "cloud-casa".into(),
                notice: Notice {
                    id: "7".into(),
                    kind: "custom".into(),
                    key: "example.com/x".into(),
                },
            },
            Event::PebbleCheckFailed {
                container: "cloud-casa".into(),
                check: "alive".into(),
            },
            Event::PebbleCheckRecovered {
                container: "cloud-casa".into(),
                check: "alive".into(),
            },
            Event::SecretChanged(secret(None)),
            Event::SecretExpired(secret(Some(2))),
            Event::SecretRotate(secret(None)),
            Event::SecretRemove(secret(Some(2))),
            Event::Action {
                name: "backup-now".into(),
                id: "12".into(),
            },
        ]
    }

    #[test]
    fn every_event_round_trips_through_its_environment() {
        for event in every_event() {
            let env: Vec<(&str, String)> = event.env();
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let parsed = parse(&pairs).unwrap();
            assert_eq!(parsed.as_ref(), Some(&event), "{}", event.dispatch_path());
            // And through serde (deferred events are stored as JSON).
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        }
    }

    #[test]
    fn hyphenated_names_are_disambiguated_by_metadata() {
        let e = parse(&[
            (
                "JUJU_DISPATCH_PATH",
                "hooks/backup-relation-relation-changed",
            ),
            ("JUJU_RELATION", "backup-relation"),
            ("JUJU_RELATION_ID", "backup-relation:1"),
            ("JUJU_REMOTE_UNIT", "x/0"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.relation().unwrap().endpoint, "backup-relation");
        assert_eq!(e.relation().unwrap().remote_app, "x", "derived from unit");
        assert_eq!(e.ops_name(), "backup_relation_relation_changed");
    }

    #[test]
    fn relation_changed_by_the_remote_app_has_no_remote_unit() {
        let e = parse(&[
            ("JUJU_DISPATCH_PATH", "hooks/backup-relation-changed"),
            ("JUJU_RELATION_ID", "backup:1"),
            ("JUJU_REMOTE_APP", "bacula-fd"),
            ("JUJU_REMOTE_UNIT", ""),
        ])
        .unwrap()
        .unwrap();
        let rel = e.relation().unwrap();
        assert_eq!(rel.remote_app, "bacula-fd");
        assert_eq!(rel.remote_unit, None);
    }

    #[test]
    fn unknown_hooks_parse_to_none() {
        for path in [
            "hooks/frobnicate",
            "hooks/gone-relation-changed",
            "hooks/backup-relation-exploded",
            "hooks/other-pebble-ready",
            "hooks/secret-sauce",
            "actions/not-declared",
        ] {
            assert_eq!(
                parse(&[("JUJU_DISPATCH_PATH", path), ("JUJU_ACTION_UUID", "1")]).unwrap(),
                None,
                "{path}"
            );
        }
    }

    #[test]
    fn missing_variables_for_the_hook_kind_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("JUJU_DISPATCH_PATH", "hooks/backup-relation-changed")],
                "JUJU_RELATION_ID",
            ),
            (
                &[
                    ("JUJU_DISPATCH_PATH", "hooks/backup-relation-changed"),
                    ("JUJU_RELATION_ID", "backup:1"),
                ],
                "JUJU_REMOTE_APP",
            ),
            (
                &[
                    ("JUJU_DISPATCH_PATH", "hooks/backup-relation-joined"),
                    ("JUJU_RELATION_ID", "backup:1"),
                    ("JUJU_REMOTE_APP", "x"),
                ],
                "JUJU_REMOTE_UNIT",
            ),
            (
                &[
                    ("JUJU_DISPATCH_PATH", "hooks/backup-relation-departed"),
                    ("JUJU_RELATION_ID", "backup:1"),
                    ("JUJU_REMOTE_UNIT", "x/1"),
                ],
                "JUJU_DEPARTING_UNIT",
            ),
            (
                &[("JUJU_DISPATCH_PATH", "hooks/secret-changed")],
                "JUJU_SECRET_ID",
            ),
            (
                &[
                    ("JUJU_DISPATCH_PATH", "hooks/secret-remove"),
                    ("JUJU_SECRET_ID", "secret:x"),
                ],
                "JUJU_SECRET_REVISION",
            ),
            (
                &[("JUJU_DISPATCH_PATH", "hooks/data-dir-storage-attached")],
                "JUJU_STORAGE_ID",
            ),
            (
                &[("JUJU_DISPATCH_PATH", "hooks/cloud-casa-pebble-ready")],
                "JUJU_WORKLOAD_NAME",
            ),
            (
                &[
                    (
                        "JUJU_DISPATCH_PATH",
                        "hooks/cloud-casa-pebble-custom-notice",
                    ),
                    ("JUJU_WORKLOAD_NAME", "cloud-casa"),
                ],
                "JUJU_NOTICE_ID",
            ),
            (
                &[
                    ("JUJU_DISPATCH_PATH", "hooks/cloud-casa-pebble-check-failed"),
                    ("JUJU_WORKLOAD_NAME", "cloud-casa"),
                ],
                "JUJU_PEBBLE_CHECK_NAME",
            ),
            (
                &[("JUJU_DISPATCH_PATH", "actions/backup-now")],
                "JUJU_ACTION_UUID",
            ),
        ];
        for (pairs, var) in cases {
            let err = parse(pairs).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(var), "{msg} should name {var}");
            assert!(msg.contains("needed by"), "{msg} should name the hook");
        }
    }

    #[test]
    fn inconsistent_environment_is_rejected() {
        let err = parse(&[
            ("JUJU_DISPATCH_PATH", "hooks/backup-relation-changed"),
            ("JUJU_RELATION", "web-api"),
            ("JUJU_RELATION_ID", "backup:1"),
            ("JUJU_REMOTE_UNIT", "x/0"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("web-api"), "{err}");
        let err = parse(&[
            ("JUJU_DISPATCH_PATH", "hooks/cloud-casa-pebble-ready"),
            ("JUJU_WORKLOAD_NAME", "other"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("other"), "{err}");
        let err = parse(&[
            ("JUJU_DISPATCH_PATH", "hooks/data-dir-storage-attached"),
            ("JUJU_STORAGE_ID", "logs/0"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("logs/0"), "{err}");
    }

    #[test]
    fn names_match_ops() {
        let e = Event::Action {
            name: "backup-now".into(),
            id: "5".into(),
        };
        assert_eq!(e.ops_name(), "backup_now_action");
        assert_eq!(e.to_string(), "backup_now_action[5]");
        assert_eq!(Event::ConfigChanged.to_string(), "config_changed");
        assert_eq!(Event::ConfigChanged.dispatch_path(), "hooks/config-changed");
    }
}
