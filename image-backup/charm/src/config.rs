//! The charm's config, validated into [`Settings`].
//!
//! Every option is checked at once and every problem reported together ([`ConfigProblems`]), so
//! an operator fixing the config sees all the mistakes in one `juju status`.

use std::fmt;
use std::time::Duration;

use charm_core::Config;

pub const BACKUP_REGISTRY: &str = "backup-registry";
pub const REGISTRY_CREDENTIALS: &str = "registry-credentials";
pub const EXCLUDE_NAMESPACES: &str = "exclude-namespaces";
pub const ROLLOUT: &str = "rollout";
pub const CONCURRENCY: &str = "concurrency";
pub const RECHECK_INTERVAL: &str = "recheck-interval";
pub const ADMISSION: &str = "admission";

/// The most images copied at once: each copy holds connections and buffers.
pub const MAX_CONCURRENCY: i64 = 64;

/// What the controller is configured with, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `host[:port][/prefix]`, trimmed of spaces and slashes.
    pub backup_registry: String,
    /// The Juju secret id holding the registry credentials, if any.
    pub credentials_secret: Option<String>,
    /// Namespaces not backed up, in the order given, without duplicates.
    pub exclude_namespaces: Vec<String>,
    pub rollout: bool,
    pub concurrency: u16,
    /// As the controller spells it (`90s`, `30m`, `1h`, `2d`).
    pub recheck_interval: RecheckInterval,
}

/// What the controller's pod admission webhook does (`admission` option, the controller's
/// `--admission`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AdmissionMode {
    /// No webhook: pods are admitted as they are.
    #[default]
    Off,
    /// A pod image whose original is unavailable is admitted as its backup, pinned by digest.
    Failover,
    /// Every pod image with a finished backup is admitted as its backup (air-gapped clusters).
    Always,
}

impl AdmissionMode {
    /// The option's value, as the controller's `--admission` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionMode::Off => "off",
            AdmissionMode::Failover => "failover",
            AdmissionMode::Always => "always",
        }
    }

    /// Whether the webhook runs (and its Service and configuration exist).
    pub fn is_on(self) -> bool {
        self != AdmissionMode::Off
    }

    /// The `admission` option; unset means off.
    pub fn from_config(config: &Config) -> Result<AdmissionMode, ConfigProblem> {
        let value = config.string(ADMISSION).ok().flatten().unwrap_or_default();
        match value.trim() {
            "" | "off" => Ok(AdmissionMode::Off),
            "failover" => Ok(AdmissionMode::Failover),
            "always" => Ok(AdmissionMode::Always),
            other => Err(ConfigProblem {
                option: ADMISSION,
                reason: format!("{other:?} is not one of off, failover, always"),
            }),
        }
    }
}

impl fmt::Display for AdmissionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration in the controller's syntax: a number and one of `s`, `m`, `h`, `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckInterval(Duration);

impl RecheckInterval {
    /// Parses `90`, `90s`, `30m`, `1h`, `2d` (what `image-backup controller run
    /// --recheck-interval` accepts); at least one second.
    pub fn parse(value: &str) -> Result<Self, String> {
        let trimmed = value.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let bad = || format!("{value:?} is not a duration like 90s, 30m, 1h or 2d");
        let number: u64 = number.parse().map_err(|_| bad())?;
        let unit_seconds = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let seconds = number
            .checked_mul(unit_seconds)
            .ok_or_else(|| format!("{value:?} is too long"))?;
        if seconds == 0 {
            return Err(format!("{value:?} is shorter than 1s"));
        }
        Ok(Self(Duration::from_secs(seconds)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for RecheckInterval {
    /// In seconds, which every controller version parses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

/// One invalid option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub option: &'static str,
    pub reason: String,
}

/// Every invalid option; displayed as the Blocked status message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", problem.option, problem.reason)?;
        }
        Ok(())
    }
}

/// The whole config, validated: what the controller runs with, and whether and how it admits
/// pods (which also decides the webhook's objects in the cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub settings: Settings,
    pub admission: AdmissionMode,
}

impl Options {
    /// Validates every option, reporting every problem at once.
    pub fn from_config(config: &Config) -> Result<Options, ConfigProblems> {
        let (settings, mut problems) = Settings::read(config);
        let admission = AdmissionMode::from_config(config).unwrap_or_else(|problem| {
            problems.push(problem);
            AdmissionMode::Off
        });
        if !problems.is_empty() {
            return Err(ConfigProblems(problems));
        }
        Ok(Options {
            settings,
            admission,
        })
    }
}

impl Settings {
    /// Validates the config ([`Options::from_config`] without the admission mode, whose
    /// problems it still reports).
    pub fn from_config(config: &Config) -> Result<Settings, ConfigProblems> {
        Options::from_config(config).map(|o| o.settings)
    }

    /// The settings (with stand-ins for invalid values) and what is wrong with them. Juju
    /// already checked the types against `config.yaml`; this checks the values.
    fn read(config: &Config) -> (Settings, Vec<ConfigProblem>) {
        let mut problems = Vec::new();
        let mut problem = |option: &'static str, reason: String| {
            problems.push(ConfigProblem { option, reason });
        };

        let registry = config
            .string(BACKUP_REGISTRY)
            .ok()
            .flatten()
            .map(|r| r.trim().trim_end_matches('/').to_string())
            .unwrap_or_default();
        if registry.is_empty() {
            problem(
                BACKUP_REGISTRY,
                "not set: `juju config <app> backup-registry=host[:port][/prefix]`".into(),
            );
        } else if let Err(reason) = proto::image_backup::v1::check_registry(&registry) {
            problem(BACKUP_REGISTRY, format!("{registry:?}: {reason}"));
        }

        let credentials_secret = config
            .string(REGISTRY_CREDENTIALS)
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(id) = &credentials_secret
            && !looks_like_secret_id(id)
        {
            problem(
                REGISTRY_CREDENTIALS,
                format!("{id:?} is not a secret id (secret:...)"),
            );
        }

        let mut exclude_namespaces: Vec<String> = Vec::new();
        let raw = config
            .string(EXCLUDE_NAMESPACES)
            .ok()
            .flatten()
            .unwrap_or_default();
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !is_dns_label(name) {
                problem(
                    EXCLUDE_NAMESPACES,
                    format!("{name:?} is not a namespace name"),
                );
            } else if !exclude_namespaces.iter().any(|n| n == name) {
                exclude_namespaces.push(name.to_string());
            }
        }

        let rollout = config.boolean(ROLLOUT).ok().flatten().unwrap_or(false);

        let concurrency = match config.int(CONCURRENCY) {
            Ok(Some(n)) if (1..=MAX_CONCURRENCY).contains(&n) => n as u16,
            Ok(Some(n)) => {
                problem(
                    CONCURRENCY,
                    format!("{n} is not between 1 and {MAX_CONCURRENCY}"),
                );
                1
            }
            Ok(None) => 4,
            Err(e) => {
                problem(CONCURRENCY, e.to_string());
                1
            }
        };

        let interval = config
            .string(RECHECK_INTERVAL)
            .ok()
            .flatten()
            .unwrap_or_else(|| "1h".into());
        let recheck_interval = match RecheckInterval::parse(&interval) {
            Ok(i) => i,
            Err(reason) => {
                problem(RECHECK_INTERVAL, reason);
                RecheckInterval(Duration::from_secs(3600))
            }
        };

        let settings = Settings {
            backup_registry: registry,
            credentials_secret,
            exclude_namespaces,
            rollout,
            concurrency,
            recheck_interval,
        };
        (settings, problems)
    }

    /// The registry host (`host[:port]`), the key credentials are stored under.
    pub fn registry_host(&self) -> &str {
        self.backup_registry
            .split_once('/')
            .map_or(self.backup_registry.as_str(), |(host, _)| host)
    }
}

/// Juju secret ids are `secret:<20 base32 chars>`, or a URI with a model UUID
/// (`secret://<uuid>/<id>`).
fn looks_like_secret_id(id: &str) -> bool {
    id.strip_prefix("secret:")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
}

/// RFC 1123 label: what namespace names are.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm_core::Metadata;
    use serde_json::{Map, Value, json};

    fn config(values: Value) -> Config {
        let meta = Metadata::from_charmcraft_yaml(include_str!("../charmcraft.yaml")).unwrap();
        let raw: Map<String, Value> = values.as_object().unwrap().clone();
        Config::from_juju(&meta.config, &raw).unwrap()
    }

    #[test]
    fn defaults_with_a_registry() {
        let s = Settings::from_config(&config(json!({
            "backup-registry": " registry.example.com:5000/backups/ "
        })))
        .unwrap();
        assert_eq!(
            s,
            Settings {
                backup_registry: "registry.example.com:5000/backups".into(),
                credentials_secret: None,
                exclude_namespaces: vec!["kube-system".into()],
                rollout: false,
                concurrency: 4,
                recheck_interval: RecheckInterval(Duration::from_secs(3600)),
            }
        );
        assert_eq!(s.registry_host(), "registry.example.com:5000");
        assert_eq!(s.recheck_interval.to_string(), "3600s");
    }

    #[test]
    fn every_option_is_read() {
        let s = Settings::from_config(&config(json!({
            "backup-registry": "ghcr.io",
            "registry-credentials": "secret:cs9b1v7mp25c76jbqgmg",
            "exclude-namespaces": "a, b,,a",
            "rollout": true,
            "concurrency": 12,
            "recheck-interval": "30m",
        })))
        .unwrap();
        assert_eq!(s.registry_host(), "ghcr.io");
        assert_eq!(
            s.credentials_secret.as_deref(),
            Some("secret:cs9b1v7mp25c76jbqgmg")
        );
        assert_eq!(s.exclude_namespaces, ["a", "b"]);
        assert!(s.rollout);
        assert_eq!(s.concurrency, 12);
        assert_eq!(s.recheck_interval.duration(), Duration::from_secs(1800));
    }

    #[test]
    fn missing_registry_says_how_to_set_it() {
        let err = Settings::from_config(&config(json!({}))).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].option, BACKUP_REGISTRY);
        assert!(err.to_string().contains("juju config"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_option() {
        let err = Settings::from_config(&config(json!({
            "backup-registry": "bad host!/x",
            "registry-credentials": "not-a-secret",
            "exclude-namespaces": "ok,Not_OK",
            "concurrency": 0,
            "recheck-interval": "5 weeks",
        })))
        .unwrap_err();
        let options: Vec<&str> = err.0.iter().map(|p| p.option).collect();
        assert_eq!(
            options,
            [
                BACKUP_REGISTRY,
                REGISTRY_CREDENTIALS,
                EXCLUDE_NAMESPACES,
                CONCURRENCY,
                RECHECK_INTERVAL
            ]
        );
        let text = err.to_string();
        for needle in [
            "\"bad host!/x\"",
            "\"not-a-secret\"",
            "\"Not_OK\"",
            "0 is not between 1 and 64",
            "\"5 weeks\"",
        ] {
            assert!(text.contains(needle), "{text} lacks {needle}");
        }
    }

    #[test]
    fn admission_is_off_unless_chosen() {
        let options = |extra: Value| {
            let mut values = json!({ "backup-registry": "ghcr.io" });
            values
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            Options::from_config(&config(values))
        };
        assert_eq!(options(json!({})).unwrap().admission, AdmissionMode::Off);
        for (value, mode) in [
            ("off", AdmissionMode::Off),
            ("failover", AdmissionMode::Failover),
            (" always ", AdmissionMode::Always),
        ] {
            let o = options(json!({ "admission": value })).unwrap();
            assert_eq!(o.admission, mode, "{value}");
            assert_eq!(mode.as_str(), value.trim());
        }
        assert!(!AdmissionMode::Off.is_on() && AdmissionMode::Failover.is_on());
    }

    #[test]
    fn a_bad_admission_mode_joins_the_other_problems() {
        let err = Options::from_config(&config(json!({
            "concurrency": 65,
            "admission": "Failover",
        })))
        .unwrap_err();
        let options: Vec<&str> = err.0.iter().map(|p| p.option).collect();
        assert_eq!(options, [BACKUP_REGISTRY, CONCURRENCY, ADMISSION]);
        assert!(
            err.to_string()
                .ends_with("admission: \"Failover\" is not one of off, failover, always"),
            "{err}"
        );
        // The controller's settings alone are not valid either: nothing half-applied.
        let only_admission = config(json!({ "backup-registry": "ghcr.io", "admission": "on" }));
        assert_eq!(
            Settings::from_config(&only_admission).unwrap_err().0[0].option,
            ADMISSION
        );
    }

    #[test]
    fn recheck_interval_grammar() {
        for (text, secs) in [("90", 90), ("90s", 90), ("30m", 1800), ("2d", 172_800)] {
            assert_eq!(
                RecheckInterval::parse(text).unwrap().duration().as_secs(),
                secs
            );
        }
        for bad in ["", "0s", "1w", "-1s", "1.5h", "h", "99999999999999999999d"] {
            assert!(RecheckInterval::parse(bad).is_err(), "{bad}");
        }
    }
}
