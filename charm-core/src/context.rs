//! The hook context: what Juju tells the charm through `JUJU_*` environment variables.
//!
//! The environment is taken as a map so tests never touch the process environment. Only the
//! variables every hook has are required here; the ones a given hook kind needs (relation id,
//! remote unit, secret id, ...) are checked when the event is parsed (see [`crate::event`]),
//! because only then is the hook kind known.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The environment a hook runs in, as name -> value.
pub type Env = BTreeMap<String, String>;

/// Everything Juju passes to a hook in its environment, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `JUJU_DISPATCH_PATH`, e.g. `hooks/install` or `actions/backup`.
    pub dispatch_path: String,
    /// `JUJU_HOOK_NAME`; empty for actions.
    pub hook_name: String,
    /// `JUJU_UNIT_NAME`, e.g. `backup-integrator/0`.
    pub unit_name: String,
    /// The application name, derived from the unit name.
    pub app_name: String,
    /// `JUJU_MODEL_NAME`.
    pub model_name: String,
    /// `JUJU_MODEL_UUID`.
    pub model_uuid: String,
    /// `JUJU_VERSION`.
    pub version: JujuVersion,
    /// `JUJU_CHARM_DIR` (the process's working directory when unset, which is where Juju runs
    /// `dispatch` from).
    pub charm_dir: PathBuf,
    /// `JUJU_RELATION`: the endpoint of a relation event.
    pub relation_name: Option<String>,
    /// `JUJU_RELATION_ID` (`endpoint:id`), the numeric part.
    pub relation_id: Option<u64>,
    /// `JUJU_REMOTE_UNIT`.
    pub remote_unit: Option<String>,
    /// `JUJU_REMOTE_APP`.
    pub remote_app: Option<String>,
    /// `JUJU_DEPARTING_UNIT`.
    pub departing_unit: Option<String>,
    /// `JUJU_WORKLOAD_NAME`: the container of a Pebble event.
    pub workload_name: Option<String>,
    /// `JUJU_NOTICE_ID`.
    pub notice_id: Option<String>,
    /// `JUJU_NOTICE_TYPE`.
    pub notice_type: Option<String>,
    /// `JUJU_NOTICE_KEY`.
    pub notice_key: Option<String>,
    /// `JUJU_PEBBLE_CHECK_NAME`.
    pub check_name: Option<String>,
    /// `JUJU_SECRET_ID`.
    pub secret_id: Option<String>,
    /// `JUJU_SECRET_LABEL`.
    pub secret_label: Option<String>,
    /// `JUJU_SECRET_REVISION`.
    pub secret_revision: Option<u64>,
    /// `JUJU_STORAGE_ID` (`name/index`).
    pub storage_id: Option<StorageId>,
    /// `JUJU_ACTION_NAME`.
    pub action_name: Option<String>,
    /// `JUJU_ACTION_UUID`.
    pub action_uuid: Option<String>,
    /// `JUJU_PRINCIPAL_UNIT` (subordinate charms).
    pub principal_unit: Option<String>,
    /// `JUJU_AVAILABILITY_ZONE`.
    pub availability_zone: Option<String>,
    /// `JUJU_MACHINE_ID`.
    pub machine_id: Option<String>,
    /// `JUJU_DEBUG` is set: logs are also written to stderr.
    pub debug: bool,
    /// `JUJU_DEBUG_AT`, comma separated.
    pub debug_at: BTreeSet<String>,
}

/// A storage instance, `JUJU_STORAGE_ID` = `name/index`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StorageId {
    /// The storage name from `metadata.yaml`.
    pub name: String,
    /// Which instance of it, when the charm allows several.
    pub index: u64,
}

impl fmt::Display for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.index)
    }
}

impl FromStr for StorageId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = s
            .rsplit_once('/')
            .ok_or_else(|| format!("`{s}` is not of the form name/index"))?;
        let index = index
            .parse()
            .map_err(|_| format!("`{s}` has a non-numeric index"))?;
        if name.is_empty() {
            return Err(format!("`{s}` has an empty storage name"));
        }
        Ok(StorageId {
            name: name.to_string(),
            index,
        })
    }
}

/// A bad hook environment: the process was not started by Juju (or by a Juju this crate does
/// not support). The hook logs it and exits 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A variable Juju always sets (or sets for this kind of hook) is missing.
    #[error("required environment variable {var} is not set{}", for_hook(.hook))]
    Missing {
        /// The variable, e.g. `JUJU_RELATION_ID`.
        var: &'static str,
        /// The hook that needs it (empty when every hook does).
        hook: String,
    },
    /// A variable does not hold what Juju would put there.
    #[error("environment variable {var} has an invalid value `{value}`: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

fn for_hook(hook: &str) -> String {
    if hook.is_empty() {
        String::new()
    } else {
        format!(" (needed by {hook})")
    }
}

impl Context {
    /// Reads the context from the process environment (non-UTF-8 variables are skipped: Juju
    /// never sets them).
    pub fn from_process_env() -> Result<Self, ContextError> {
        let env: Env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_env(&env)
    }

    /// Reads the context from `env`. Checks the variables every hook has; the event parser
    /// checks the ones specific to the hook kind.
    pub fn from_env(env: &Env) -> Result<Self, ContextError> {
        let required = |var: &'static str| -> Result<String, ContextError> {
            match env.get(var) {
                Some(v) if !v.is_empty() => Ok(v.clone()),
                _ => Err(ContextError::Missing {
                    var,
                    hook: String::new(),
                }),
            }
        };
        let optional = |var: &str| env.get(var).filter(|v| !v.is_empty()).cloned();

        let dispatch_path = required("JUJU_DISPATCH_PATH")?;
        let unit_name = required("JUJU_UNIT_NAME")?;
        let app_name = match unit_name.split_once('/') {
            Some((app, n)) if !app.is_empty() && n.parse::<u64>().is_ok() => app.to_string(),
            _ => {
                return Err(ContextError::Invalid {
                    var: "JUJU_UNIT_NAME",
                    value: unit_name,
                    reason: "expected <application>/<number>".into(),
                });
            }
        };
        let version_raw = required("JUJU_VERSION")?;
        let version = version_raw
            .parse()
            .map_err(|reason| ContextError::Invalid {
                var: "JUJU_VERSION",
                value: version_raw.clone(),
                reason,
            })?;
        let relation_id = match optional("JUJU_RELATION_ID") {
            None => None,
            Some(raw) => {
                // Juju sends `endpoint:id`; old versions sent just the id.
                let id = raw.rsplit(':').next().unwrap_or(&raw);
                Some(id.parse().map_err(|_| ContextError::Invalid {
                    var: "JUJU_RELATION_ID",
                    value: raw.clone(),
                    reason: "expected <endpoint>:<number>".into(),
                })?)
            }
        };
        let secret_revision = match optional("JUJU_SECRET_REVISION") {
            None => None,
            Some(raw) => Some(raw.parse().map_err(|_| ContextError::Invalid {
                var: "JUJU_SECRET_REVISION",
                value: raw.clone(),
                reason: "expected a revision number".into(),
            })?),
        };
        let storage_id = match optional("JUJU_STORAGE_ID") {
            None => None,
            Some(raw) => Some(raw.parse().map_err(|reason| ContextError::Invalid {
                var: "JUJU_STORAGE_ID",
                value: raw.clone(),
                reason,
            })?),
        };
        let charm_dir = match optional("JUJU_CHARM_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };

        Ok(Context {
            hook_name: env.get("JUJU_HOOK_NAME").cloned().unwrap_or_default(),
            model_name: required("JUJU_MODEL_NAME")?,
            model_uuid: required("JUJU_MODEL_UUID")?,
            dispatch_path,
            unit_name,
            app_name,
            version,
            charm_dir,
            relation_name: optional("JUJU_RELATION"),
            relation_id,
            remote_unit: optional("JUJU_REMOTE_UNIT"),
            remote_app: optional("JUJU_REMOTE_APP"),
            departing_unit: optional("JUJU_DEPARTING_UNIT"),
            workload_name: optional("JUJU_WORKLOAD_NAME"),
            notice_id: optional("JUJU_NOTICE_ID"),
            notice_type: optional("JUJU_NOTICE_TYPE"),
            notice_key: optional("JUJU_NOTICE_KEY"),
            check_name: optional("JUJU_PEBBLE_CHECK_NAME"),
            secret_id: optional("JUJU_SECRET_ID"),
            secret_label: optional("JUJU_SECRET_LABEL"),
            secret_revision,
            storage_id,
            action_name: optional("JUJU_ACTION_NAME"),
            action_uuid: optional("JUJU_ACTION_UUID"),
            principal_unit: optional("JUJU_PRINCIPAL_UNIT"),
            availability_zone: optional("JUJU_AVAILABILITY_ZONE"),
            machine_id: optional("JUJU_MACHINE_ID"),
            debug: env.contains_key("JUJU_DEBUG"),
            debug_at: optional("JUJU_DEBUG_AT")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// A context for tests and tools: the given unit, Juju 3.6, dispatching `dispatch_path`.
    pub fn for_unit(unit_name: &str, dispatch_path: &str) -> Result<Self, ContextError> {
        let env: Env = [
            ("JUJU_DISPATCH_PATH", dispatch_path),
            ("JUJU_UNIT_NAME", unit_name),
            ("JUJU_MODEL_NAME", "test-model"),
            ("JUJU_MODEL_UUID", "00000000-0000-4000-8000-000000000000"),
            ("JUJU_VERSION", "3.6.0"),
            ("JUJU_CHARM_DIR", "."),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Self::from_env(&env)
    }
}

/// A Juju version: `major.minor.patch[.build]` or `major.minor-tagpatch[.build]`
/// (`3.4.0`, `2.9.42.1`, `3.5-beta1`). Ordered like Juju orders them: a tagged (pre-release)
/// version sorts before the release with the same major.minor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JujuVersion {
    /// `3` of `3.6.4`.
    pub major: u64,
    /// `6` of `3.6.4`.
    pub minor: u64,
    /// Pre-release tag such as `beta`; empty for releases.
    pub tag: String,
    /// `4` of `3.6.4` (`1` of `3.5-beta1`).
    pub patch: u64,
    /// The fourth number of development builds (`1` of `2.9.42.1`); 0 otherwise.
    pub build: u64,
}

impl JujuVersion {
    /// A release version `major.minor.patch`, e.g. for comparing with [`Context::version`]
    /// before using a hook tool that older Juju lacks.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        JujuVersion {
            major,
            minor,
            tag: String::new(),
            patch,
            build: 0,
        }
    }

    /// Juju 3.1.7+ / 3.3.1+ can run `secret-*` reliably; secrets exist from 3.0.2.
    pub fn has_secrets(&self) -> bool {
        *self >= JujuVersion::new(3, 0, 2)
    }

    /// `open-port` / `close-port` / `opened-ports` for all substrates.
    pub fn supports_open_port_on_k8s(&self) -> bool {
        *self >= JujuVersion::new(3, 0, 3)
    }

    /// `state-get` / `state-set` (controller-side unit state).
    pub fn has_controller_storage(&self) -> bool {
        *self >= JujuVersion::new(2, 8, 0)
    }

    /// Pebble custom notices (`-pebble-custom-notice`).
    pub fn supports_pebble_notices(&self) -> bool {
        *self >= JujuVersion::new(3, 4, 0)
    }
}

impl FromStr for JujuVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let num = |part: &str| -> Result<u64, String> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{part}` is not a number in Juju version `{s}`"));
            }
            part.parse().map_err(|_| format!("`{part}` is too large"))
        };
        let (major, rest) = s
            .split_once('.')
            .ok_or_else(|| format!("`{s}` is not a Juju version (expected major.minor...)"))?;
        let major = num(major)?;
        // minor, then either `.patch` or `-tagpatch`, then optional `.build`.
        let minor_end = rest.find(['.', '-']).unwrap_or(rest.len());
        let minor = num(&rest[..minor_end])?;
        let rest = &rest[minor_end..];
        let (tag, patch, rest) = if let Some(r) = rest.strip_prefix('-') {
            let tag_end = r
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(r.len());
            let tag = &r[..tag_end];
            if tag.is_empty() {
                return Err(format!("`{s}` has an empty pre-release tag"));
            }
            let r = &r[tag_end..];
            let patch_end = r.find('.').unwrap_or(r.len());
            (tag.to_string(), num(&r[..patch_end])?, &r[patch_end..])
        } else if let Some(r) = rest.strip_prefix('.') {
            let patch_end = r.find('.').unwrap_or(r.len());
            (String::new(), num(&r[..patch_end])?, &r[patch_end..])
        } else {
            (String::new(), 0, rest)
        };
        let build = match rest.strip_prefix('.') {
            Some(b) => num(b)?,
            None if rest.is_empty() => 0,
            None => return Err(format!("`{s}` has trailing characters `{rest}`")),
        };
        Ok(JujuVersion {
            major,
            minor,
            tag,
            patch,
            build,
        })
    }
}

impl fmt::Display for JujuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tag.is_empty() {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        } else {
            write!(
                f,
                "{}.{}-{}{}",
                self.major, self.minor, self.tag, self.patch
            )?;
        }
        if self.build != 0 {
            write!(f, ".{}", self.build)?;
        }
        Ok(())
    }
}

impl Ord for JujuVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let tag_order = match (self.tag.is_empty(), other.tag.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.tag.cmp(&other.tag),
        };
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(tag_order)
            .then(self.patch.cmp(&other.patch))
            .then(self.build.cmp(&other.build))
    }
}

impl PartialOrd for JujuVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_env() -> Env {
        [
            ("JUJU_DISPATCH_PATH", "hooks/backup-relation-changed"),
            ("JUJU_HOOK_NAME", "backup-relation-changed"),
            ("JUJU_UNIT_NAME", "backup-integrator/3"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", "cdac5656-2423-4388-8f30-41854b4cca7d"),
            ("JUJU_VERSION", "3.6.2"),
            ("JUJU_CHARM_DIR", "/var/lib/juju/agents/unit-x-0/charm"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn reads_every_variable() {
        let mut env = base_env();
        for (k, v) in [
            ("JUJU_RELATION", "backup"),
            ("JUJU_RELATION_ID", "backup:7"),
            ("JUJU_REMOTE_UNIT", "bacula-fd/0"),
            ("JUJU_REMOTE_APP", "bacula-fd"),
            ("JUJU_DEPARTING_UNIT", "bacula-fd/1"),
            ("JUJU_WORKLOAD_NAME", "cloudcasa"),
            ("JUJU_NOTICE_ID", "12"),
            ("JUJU_NOTICE_TYPE", "custom"),
            ("JUJU_NOTICE_KEY", "example.com/a"),
            ("JUJU_PEBBLE_CHECK_NAME", "ready"),
            ("JUJU_SECRET_ID", "secret:abc"),
            ("JUJU_SECRET_LABEL", "creds"),
            ("JUJU_SECRET_REVISION", "4"),
            ("JUJU_STORAGE_ID", "data/2"),
            ("JUJU_ACTION_NAME", "backup-now"),
            ("JUJU_ACTION_UUID", "42"),
            ("JUJU_PRINCIPAL_UNIT", "ubuntu/0"),
            ("JUJU_AVAILABILITY_ZONE", "zone1"),
            ("JUJU_MACHINE_ID", "3"),
            ("JUJU_DEBUG", "1"),
            ("JUJU_DEBUG_AT", "all, hook"),
        ] {
            env.insert(k.into(), v.into());
        }
        let ctx = Context::from_env(&env).unwrap();
        assert_eq!(ctx.app_name, "backup-integrator");
        assert_eq!(ctx.model_name, "prod");
        assert_eq!(ctx.version, JujuVersion::new(3, 6, 2));
        assert_eq!(
            ctx.charm_dir,
            PathBuf::from("/var/lib/juju/agents/unit-x-0/charm")
        );
        assert_eq!(ctx.relation_id, Some(7));
        assert_eq!(ctx.relation_name.as_deref(), Some("backup"));
        assert_eq!(ctx.remote_unit.as_deref(), Some("bacula-fd/0"));
        assert_eq!(ctx.remote_app.as_deref(), Some("bacula-fd"));
        assert_eq!(ctx.departing_unit.as_deref(), Some("bacula-fd/1"));
        assert_eq!(ctx.workload_name.as_deref(), Some("cloudcasa"));
        assert_eq!(ctx.notice_id.as_deref(), Some("12"));
        assert_eq!(ctx.notice_type.as_deref(), Some("custom"));
        assert_eq!(ctx.notice_key.as_deref(), Some("example.com/a"));
        assert_eq!(ctx.check_name.as_deref(), Some("ready"));
        assert_eq!(ctx.secret_id.as_deref(), Some("secret:abc"));
        assert_eq!(ctx.secret_label.as_deref(), Some("creds"));
        assert_eq!(ctx.secret_revision, Some(4));
        assert_eq!(
            ctx.storage_id,
            Some(StorageId {
                name: "data".into(),
                index: 2
            })
        );
        assert_eq!(ctx.action_name.as_deref(), Some("backup-now"));
        assert_eq!(ctx.action_uuid.as_deref(), Some("42"));
        assert_eq!(ctx.principal_unit.as_deref(), Some("ubuntu/0"));
        assert_eq!(ctx.availability_zone.as_deref(), Some("zone1"));
        assert_eq!(ctx.machine_id.as_deref(), Some("3"));
        assert!(ctx.debug);
        assert_eq!(
            ctx.debug_at,
            ["all", "hook"].into_iter().map(String::from).collect()
        );
    }

    #[test]
    fn missing_required_variable_is_named() {
        for var in [
            "JUJU_DISPATCH_PATH",
            "JUJU_UNIT_NAME",
            "JUJU_MODEL_NAME",
            "JUJU_MODEL_UUID",
            "JUJU_VERSION",
        ] {
            let mut env = base_env();
            env.remove(var);
            let err = Context::from_env(&env).unwrap_err();
            assert_eq!(
                err,
                ContextError::Missing {
                    var,
                    hook: String::new()
                }
            );
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn malformed_values_are_rejected_with_the_value() {
        for (var, value) in [
            ("JUJU_UNIT_NAME", "no-slash"),
            ("JUJU_UNIT_NAME", "app/x"),
            ("JUJU_VERSION", "three"),
            ("JUJU_VERSION", "3.x.1"),
            ("JUJU_RELATION_ID", "backup:seven"),
            ("JUJU_SECRET_REVISION", "-1"),
            ("JUJU_STORAGE_ID", "data"),
            ("JUJU_STORAGE_ID", "data/x"),
        ] {
            let mut env = base_env();
            env.insert(var.into(), value.into());
            let err = Context::from_env(&env).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(var) && msg.contains(value), "{msg}");
        }
    }

    #[test]
    fn relation_id_without_endpoint_prefix_is_accepted() {
        let mut env = base_env();
        env.insert("JUJU_RELATION_ID".into(), "12".into());
        assert_eq!(Context::from_env(&env).unwrap().relation_id, Some(12));
    }

    #[test]
    fn versions_parse_and_order() {
        let v = |s: &str| s.parse::<JujuVersion>().unwrap();
        assert_eq!(v("3.4.0"), JujuVersion::new(3, 4, 0));
        assert_eq!(v("2.9.42.1").build, 1);
        let beta = v("3.5-beta1");
        assert_eq!((beta.tag.as_str(), beta.patch), ("beta", 1));
        assert_eq!(v("3.5-beta1.2").build, 2);
        assert_eq!(v("3.5").patch, 0);
        assert!(v("3.5-beta1") < v("3.5.0"));
        assert!(v("3.5-alpha2") < v("3.5-beta1"));
        assert!(v("2.9.46") < v("3.0.0"));
        assert!(v("3.1.10") > v("3.1.9"));
        assert!(v("3.1.7.1") > v("3.1.7"));
        assert_eq!(v("3.5-beta1.2").to_string(), "3.5-beta1.2");
        assert_eq!(v("3.4.1").to_string(), "3.4.1");
        for bad in [
            "",
            "3",
            "3.",
            "a.b",
            "3.4.x",
            "3.4-1",
            "3.4.1.2.3",
            "3.4.1x",
        ] {
            assert!(bad.parse::<JujuVersion>().is_err(), "{bad} parsed");
        }
        assert!(v("3.6.0").has_secrets());
        assert!(!v("2.9.44").has_secrets());
    }
}
