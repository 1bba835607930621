//! Pebble layers: typed services, checks and log targets, and Pebble's rules for combining them.
//!
//! Every field is optional, as in a layer file: "not set" and "set to the default" differ when
//! layers are combined. Combining follows Pebble's `plan.CombineLayers`: an entry with
//! `override: replace` replaces the earlier one; `override: merge` sets the scalar fields it
//! sets, appends lists (`after`, `before`, `requires`, log target `services`) and merges maps
//! (`environment`, `on-check-failure`, headers, labels).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
use super::error::Error;
use super::yaml;

string_enum! {
    /// How an entry of a layer combines with the same entry of earlier layers.
    pub enum Override {
        /// Merge the fields this layer sets into the existing entry.
        Merge = "merge",
        /// Replace the existing entry entirely.
        Replace = "replace",
    }
}

string_enum! {
    /// Whether a service or check starts automatically (on replan and when Pebble starts).
    pub enum Startup {
        /// Started by replan/autostart.
        Enabled = "enabled",
        /// Started only on request.
        Disabled = "disabled",
    }
}

string_enum! {
    /// What Pebble does when a service exits or a check fails.
    pub enum ServiceAction {
        /// Restart the service (with backoff).
        Restart = "restart",
        /// Shut Pebble (and so the container) down.
        Shutdown = "shutdown",
        /// Do nothing.
        Ignore = "ignore",
        /// Shut Pebble down with a failure exit code.
        FailureShutdown = "failure-shutdown",
        /// Shut Pebble down with a success exit code.
        SuccessShutdown = "success-shutdown",
    }
}

string_enum! {
    /// The level of a health check.
    pub enum CheckLevel {
        /// Liveness.
        Alive = "alive",
        /// Readiness.
        Ready = "ready",
    }
}

string_enum! {
    /// Where a log target forwards logs.
    pub enum LogTargetType {
        /// Grafana Loki.
        Loki = "loki",
        /// A syslog server.
        Syslog = "syslog",
    }
}

/// A Pebble configuration layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Layer {
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Health checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    /// Log targets by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

/// A service in a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Service {
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether replan starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// How this entry combines with earlier layers (required in a layer).
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
    /// The command line; `[ ... ]` marks default arguments that `pebble run --args` replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Start after these services (ordering only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Start before these services (ordering only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Services that must run for this one to run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Run as this user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// Run as this user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run with this group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Run with this group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Action when the service exits with code 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<ServiceAction>,
    /// Action when the service exits with a non-zero code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<ServiceAction>,
    /// Action per failing check.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, ServiceAction>,
    /// First restart delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<GoDuration>,
    /// Multiplier of the delay after each restart (at least 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    /// Upper bound of the restart delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<GoDuration>,
    /// Time between SIGTERM and SIGKILL when stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<GoDuration>,
}

/// A health check in a layer. Exactly one of `http`, `tcp` and `exec` must be set in the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    /// How this entry combines with earlier layers (required in a layer).
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
    /// Alive or ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CheckLevel>,
    /// Whether replan starts the check (default enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// Time between runs (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<GoDuration>,
    /// Time allowed for one run (default 3s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Failures in a row before the check is down (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// An HTTP GET check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// A TCP connect check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// A command check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

/// An HTTP check: healthy when a GET returns 2xx.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HttpCheck {
    /// The URL to fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A TCP check: healthy when a connection opens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TcpCheck {
    /// The port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The host (default localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// An exec check: healthy when the command exits 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecCheck {
    /// The command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Take environment, user, group and working dir from this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_context: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Run as this user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// Run as this user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run with this group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Run with this group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// A log forwarding target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogTarget {
    /// How this entry combines with earlier layers (required in a layer).
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
    /// Loki or syslog.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<LogTargetType>,
    /// Address of the log server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Services whose logs go there: names, `all`, or `-name` to exclude.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Labels added to every log line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the summary.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// Adds (or replaces) a service.
    pub fn with_service(mut self, name: impl Into<String>, service: Service) -> Self {
        self.services.insert(name.into(), service);
        self
    }

    /// Adds (or replaces) a check.
    pub fn with_check(mut self, name: impl Into<String>, check: Check) -> Self {
        self.checks.insert(name.into(), check);
        self
    }

    /// Adds (or replaces) a log target.
    pub fn with_log_target(mut self, name: impl Into<String>, target: LogTarget) -> Self {
        self.log_targets.insert(name.into(), target);
        self
    }

    /// Parses a layer from YAML and checks Pebble's per-layer rules.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let layer: Layer = yaml::from_str("layer", text)?;
        layer.validate()?;
        Ok(layer)
    }

    /// The layer as YAML, as sent to Pebble.
    pub fn to_yaml(&self) -> Result<String, Error> {
        yaml::to_string(self)
    }

    /// Checks the rules Pebble applies to each layer on its own (`Layer.Validate`).
    pub fn validate(&self) -> Result<(), Error> {
        for (name, service) in &self.services {
            if name.is_empty() {
                return Err(Error::Layer(
                    "cannot use empty string as service name".into(),
                ));
            }
            if name == "pebble" {
                return Err(Error::Layer(format!(
                    "cannot use reserved service name {name:?}"
                )));
            }
            if name.starts_with('-') {
                return Err(Error::Layer(format!(
                    "cannot use service name {name:?}: starting with \"-\" not allowed"
                )));
            }
            if let Some(factor) = service.backoff_factor
                && factor < 1.0
            {
                return Err(Error::Layer(format!(
                    "plan service {name:?} backoff-factor must be 1.0 or greater, not {factor}"
                )));
            }
        }
        for name in self.checks.keys() {
            if name.is_empty() {
                return Err(Error::Layer("cannot use empty string as check name".into()));
            }
        }
        for (name, target) in &self.log_targets {
            if let Some(label) = target.labels.keys().find(|l| l.starts_with("pebble_")) {
                return Err(Error::Layer(format!(
                    "log target {name:?}: label {label:?} uses reserved prefix \"pebble_\""
                )));
            }
        }
        Ok(())
    }

    /// Combines `other` (a later layer) into this one, following Pebble's override rules.
    ///
    /// `label` names `other` in errors. Like Pebble, the summary and description become the
    /// later layer's.
    pub fn combine(&mut self, label: &str, other: &Layer) -> Result<(), Error> {
        self.summary = other.summary.clone();
        self.description = other.description.clone();
        combine_entries(&mut self.services, &other.services, label, "service")?;
        combine_entries(&mut self.checks, &other.checks, label, "check")?;
        combine_entries(
            &mut self.log_targets,
            &other.log_targets,
            label,
            "log target",
        )?;
        Ok(())
    }
}

/// An entry of a layer section that knows its override mode and how to merge.
pub(crate) trait Entry: Clone {
    fn override_mode(&self) -> Option<&Override>;
    fn merge(&mut self, other: &Self);
}

fn combine_entries<T: Entry>(
    combined: &mut BTreeMap<String, T>,
    layer: &BTreeMap<String, T>,
    label: &str,
    what: &str,
) -> Result<(), Error> {
    for (name, entry) in layer {
        match entry.override_mode() {
            Some(Override::Merge) => match combined.get_mut(name) {
                Some(existing) => existing.merge(entry),
                None => {
                    combined.insert(name.clone(), entry.clone());
                }
            },
            Some(Override::Replace) => {
                combined.insert(name.clone(), entry.clone());
            }
            None => {
                return Err(Error::Layer(format!(
                    "layer {label:?} must define \"override\" for {what} {name:?}"
                )));
            }
            Some(Override::Other(_)) => {
                return Err(Error::Layer(format!(
                    "layer {label:?} has invalid \"override\" value for {what} {name:?}"
                )));
            }
        }
    }
    Ok(())
}

fn merge_opt<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if from.is_some() {
        into.clone_from(from);
    }
}

/// Strings merge only when non-empty, as in Pebble (an empty string means "not set").
fn merge_str(into: &mut Option<String>, from: &Option<String>) {
    if from.as_deref().is_some_and(|s| !s.is_empty()) {
        into.clone_from(from);
    }
}

fn merge_map<V: Clone>(into: &mut BTreeMap<String, V>, from: &BTreeMap<String, V>) {
    into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
}

impl Service {
    /// A service with `override: replace` and the given command: the usual way a charm
    /// declares its workload.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            r#override: Some(Override::Replace),
            command: Some(command.into()),
            ..Self::default()
        }
    }

    /// Sets `startup`.
    pub fn with_startup(mut self, startup: Startup) -> Self {
        self.startup = Some(startup);
        self
    }

    /// Sets `override`.
    pub fn with_override(mut self, mode: Override) -> Self {
        self.r#override = Some(mode);
        self
    }

    /// Sets one environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Sets `summary`.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
}

impl Entry for Service {
    fn override_mode(&self) -> Option<&Override> {
        self.r#override.as_ref()
    }

    fn merge(&mut self, other: &Self) {
        merge_str(&mut self.summary, &other.summary);
        merge_str(&mut self.description, &other.description);
        merge_opt(&mut self.startup, &other.startup);
        // The merged entry keeps the mode of the layer that last touched it, as Pebble does.
        merge_opt(&mut self.r#override, &other.r#override);
        merge_str(&mut self.command, &other.command);
        merge_opt(&mut self.kill_delay, &other.kill_delay);
        merge_opt(&mut self.user_id, &other.user_id);
        merge_str(&mut self.user, &other.user);
        merge_opt(&mut self.group_id, &other.group_id);
        merge_str(&mut self.group, &other.group);
        merge_str(&mut self.working_dir, &other.working_dir);
        self.after.extend(other.after.iter().cloned());
        self.before.extend(other.before.iter().cloned());
        self.requires.extend(other.requires.iter().cloned());
        merge_map(&mut self.environment, &other.environment);
        merge_opt(&mut self.on_success, &other.on_success);
        merge_opt(&mut self.on_failure, &other.on_failure);
        merge_map(&mut self.on_check_failure, &other.on_check_failure);
        merge_opt(&mut self.backoff_delay, &other.backoff_delay);
        merge_opt(&mut self.backoff_factor, &other.backoff_factor);
        merge_opt(&mut self.backoff_limit, &other.backoff_limit);
    }
}

impl Entry for Check {
    fn override_mode(&self) -> Option<&Override> {
        self.r#override.as_ref()
    }

    fn merge(&mut self, other: &Self) {
        merge_opt(&mut self.r#override, &other.r#override);
        merge_opt(&mut self.level, &other.level);
        merge_opt(&mut self.startup, &other.startup);
        merge_opt(&mut self.period, &other.period);
        merge_opt(&mut self.timeout, &other.timeout);
        if other.threshold.is_some_and(|t| t != 0) {
            self.threshold = other.threshold;
        }
        if let Some(http) = &other.http {
            let mine = self.http.get_or_insert_with(HttpCheck::default);
            merge_str(&mut mine.url, &http.url);
            merge_map(&mut mine.headers, &http.headers);
        }
        if let Some(tcp) = &other.tcp {
            let mine = self.tcp.get_or_insert_with(TcpCheck::default);
            if tcp.port.is_some_and(|p| p != 0) {
                mine.port = tcp.port;
            }
            merge_str(&mut mine.host, &tcp.host);
        }
        if let Some(exec) = &other.exec {
            let mine = self.exec.get_or_insert_with(ExecCheck::default);
            merge_str(&mut mine.command, &exec.command);
            merge_str(&mut mine.service_context, &exec.service_context);
            merge_map(&mut mine.environment, &exec.environment);
            merge_opt(&mut mine.user_id, &exec.user_id);
            merge_str(&mut mine.user, &exec.user);
            merge_opt(&mut mine.group_id, &exec.group_id);
            merge_str(&mut mine.group, &exec.group);
            merge_str(&mut mine.working_dir, &exec.working_dir);
        }
    }
}

impl Entry for LogTarget {
    fn override_mode(&self) -> Option<&Override> {
        self.r#override.as_ref()
    }

    fn merge(&mut self, other: &Self) {
        merge_opt(&mut self.r#override, &other.r#override);
        merge_opt(&mut self.target_type, &other.target_type);
        merge_str(&mut self.location, &other.location);
        self.services.extend(other.services.iter().cloned());
        merge_map(&mut self.labels, &other.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(yaml: &str) -> Layer {
        Layer::from_yaml(yaml).unwrap()
    }

    #[test]
    fn parses_and_writes_pebble_yaml() {
        let l = layer(
            r#"
summary: web
services:
  web:
    override: replace
    command: /bin/web --port 80
    startup: enabled
    environment: {A: "1"}
    kill-delay: 90s
    on-check-failure: {ping: restart}
    requires: [db]
checks:
  ping:
    override: replace
    level: alive
    period: 5s
    http: {url: "http://localhost/"}
log-targets:
  loki:
    override: replace
    type: loki
    location: http://loki/
    services: [all]
"#,
        );
        let web = &l.services["web"];
        assert_eq!(web.startup, Some(Startup::Enabled));
        assert_eq!(web.kill_delay, Some(GoDuration::from_secs(90)));
        assert_eq!(web.on_check_failure["ping"], ServiceAction::Restart);
        assert_eq!(l.checks["ping"].level, Some(CheckLevel::Alive));
        assert_eq!(l.log_targets["loki"].target_type, Some(LogTargetType::Loki));
        let text = l.to_yaml().unwrap();
        assert!(text.contains("kill-delay: 1m30s"), "{text}");
        assert!(text.contains("override: replace"), "{text}");
        assert_eq!(layer(&text), l);
    }

    #[test]
    fn merge_sets_appends_and_merges_like_pebble() {
        let mut base = layer(
            r#"
services:
  web:
    override: replace
    command: web
    summary: old
    after: [a]
    environment: {A: "1", B: "2"}
"#,
        );
        let next = layer(
            r#"
summary: second
services:
  web:
    override: merge
    after: [b]
    environment: {B: "3"}
    user: www
  other:
    override: merge
    command: other
"#,
        );
        base.combine("second", &next).unwrap();
        let web = &base.services["web"];
        assert_eq!(web.command.as_deref(), Some("web"));
        assert_eq!(web.summary.as_deref(), Some("old"));
        assert_eq!(web.after, ["a", "b"]);
        assert_eq!(web.environment["A"], "1");
        assert_eq!(web.environment["B"], "3");
        assert_eq!(web.user.as_deref(), Some("www"));
        assert_eq!(web.r#override, Some(Override::Merge));
        assert_eq!(base.services["other"].command.as_deref(), Some("other"));
        assert_eq!(base.summary.as_deref(), Some("second"));
    }

    #[test]
    fn replace_drops_earlier_fields() {
        let mut base = layer("services: {web: {override: replace, command: a, user: x}}");
        base.combine(
            "l2",
            &layer("services: {web: {override: replace, command: b}}"),
        )
        .unwrap();
        assert_eq!(base.services["web"].command.as_deref(), Some("b"));
        assert_eq!(base.services["web"].user, None);
    }

    #[test]
    fn missing_or_bad_override_is_refused_naming_layer_and_entry() {
        let mut base = Layer::new();
        let err = base
            .combine("l1", &layer("services: {web: {command: a}}"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("layer \"l1\" must define \"override\" for service \"web\""),
            "{err}"
        );
        let err = base
            .combine(
                "l1",
                &layer("checks: {c: {override: sideways, tcp: {port: 1}}}"),
            )
            .unwrap_err();
        assert!(err.to_string().contains("invalid \"override\""), "{err}");
    }

    #[test]
    fn check_merge_merges_type_specific_fields() {
        let mut base =
            layer("checks: {c: {override: replace, http: {url: 'http://a/', headers: {X: '1'}}}}");
        base.combine(
            "l2",
            &layer("checks: {c: {override: merge, threshold: 5, http: {headers: {Y: '2'}}}}"),
        )
        .unwrap();
        let c = &base.checks["c"];
        assert_eq!(c.threshold, Some(5));
        let http = c.http.as_ref().unwrap();
        assert_eq!(http.url.as_deref(), Some("http://a/"));
        assert_eq!(http.headers.len(), 2);
    }

    #[test]
    fn layer_rules_are_checked() {
        for (yaml, want) in [
            (
                "services: {pebble: {override: replace, command: x}}",
                "reserved service name",
            ),
            (
                "services: {-x: {override: replace, command: x}}",
                "starting with \"-\"",
            ),
            (
                "services: {x: {override: replace, command: x, backoff-factor: 0.5}}",
                "backoff-factor",
            ),
            (
                "services: {x: {override: replace, kill-delay: soon}}",
                "invalid duration",
            ),
            ("services: {x: null}", "cannot parse layer"),
            ("not: [valid", "cannot parse layer"),
        ] {
            let err = Layer::from_yaml(yaml).unwrap_err();
            assert!(err.to_string().contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let l = layer("services: {x: {override: replace, command: x, on-failure: explode}}");
        assert_eq!(
            l.services["x"].on_failure,
            Some(ServiceAction::Other("explode".into()))
        );
    }
}
