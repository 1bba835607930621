//! The plan: the combination of all layers, and the client calls that read and extend it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{Client, Method};
use super::error::{Error, Result};
use super::layer::{Check, Layer, LogTarget, Service};
use super::yaml;

/// Pebble's default check threshold, which the combined plan states explicitly.
const DEFAULT_CHECK_THRESHOLD: u32 = 3;

/// The effective configuration: all layers combined (`GET /v1/plan`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    /// Log targets by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

impl Plan {
    /// Parses the plan YAML Pebble returns.
    pub fn from_yaml(text: &str) -> Result<Self> {
        yaml::from_str("plan", text)
    }

    /// The plan as YAML, in the form Pebble returns it.
    pub fn to_yaml(&self) -> Result<String> {
        yaml::to_string(self)
    }

    /// Combines labelled layers, in order, into the plan Pebble would compute, and checks the
    /// result the way Pebble does (`plan.Validate`): every service has a command, every check
    /// exactly one complete type, every log target a type and location and known services.
    ///
    /// Dependency cycles between services are not detected here.
    pub fn from_layers<'a>(layers: impl IntoIterator<Item = (&'a str, &'a Layer)>) -> Result<Self> {
        let mut combined = Layer::default();
        for (label, layer) in layers {
            layer.validate()?;
            combined.combine(label, layer)?;
        }
        let mut plan = Plan {
            services: combined.services,
            checks: combined.checks,
            log_targets: combined.log_targets,
        };
        for check in plan.checks.values_mut() {
            if check.threshold.is_none_or(|t| t == 0) {
                check.threshold = Some(DEFAULT_CHECK_THRESHOLD);
            }
        }
        plan.validate()?;
        Ok(plan)
    }

    /// Checks the combined-plan rules (see [`Plan::from_layers`]).
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Layer(message));
        for (name, service) in &self.services {
            if service.command.as_deref().is_none_or(str::is_empty) {
                return fail(format!("plan must define \"command\" for service {name:?}"));
            }
        }
        for (name, check) in &self.checks {
            let mut types = 0;
            if let Some(http) = &check.http {
                if http.url.as_deref().is_none_or(str::is_empty) {
                    return fail(format!("plan must set \"url\" for http check {name:?}"));
                }
                types += 1;
            }
            if let Some(tcp) = &check.tcp {
                if tcp.port.is_none_or(|p| p == 0) {
                    return fail(format!("plan must set \"port\" for tcp check {name:?}"));
                }
                types += 1;
            }
            if let Some(exec) = &check.exec {
                if exec.command.as_deref().is_none_or(str::is_empty) {
                    return fail(format!("plan must set \"command\" for exec check {name:?}"));
                }
                if let Some(context) = &exec.service_context
                    && !context.is_empty()
                    && !self.services.contains_key(context)
                {
                    return fail(format!(
                        "plan check {name:?} service context specifies non-existent service {context:?}"
                    ));
                }
                types += 1;
            }
            if types != 1 {
                return fail(format!(
                    "plan must specify one of \"http\", \"tcp\", or \"exec\" for check {name:?}"
                ));
            }
        }
        for (name, target) in &self.log_targets {
            if target.target_type.is_none() {
                return fail(format!(
                    "plan must define \"type\" (\"loki\" or \"syslog\") for log target {name:?}"
                ));
            }
            for service in &target.services {
                let service = service.strip_prefix('-').unwrap_or(service);
                if service != "all" && !self.services.contains_key(service) {
                    return fail(format!(
                        "log target {name:?} specifies unknown service {service:?}"
                    ));
                }
            }
            if target.location.as_deref().is_none_or(str::is_empty) {
                return fail(format!(
                    "plan must define \"location\" for log target {name:?}"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct AddLayerRequest<'a> {
    action: &'static str,
    combine: bool,
    label: &'a str,
    format: &'static str,
    layer: &'a str,
}

impl Client {
    /// Adds a layer under `label` (`POST /v1/layers`).
    ///
    /// With `combine` false, a layer with that label must not exist yet. With `combine` true,
    /// the layer is combined into the existing layer with that label (or appended if there is
    /// none), which is how charms update their layer on every event.
    pub async fn add_layer(&self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        let text = layer.to_yaml()?;
        self.add_layer_yaml(label, &text, combine).await
    }

    /// Like [`Client::add_layer`], with the layer given as YAML text.
    pub async fn add_layer_yaml(&self, label: &str, layer_yaml: &str, combine: bool) -> Result<()> {
        if label.is_empty() {
            return Err(Error::InvalidArgument(
                "layer label must not be empty".into(),
            ));
        }
        let body = AddLayerRequest {
            action: "add",
            combine,
            label,
            format: "yaml",
            layer: layer_yaml,
        };
        let _: serde_json::Value = self
            .sync_json(Method::POST, "/v1/layers", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// The current plan (`GET /v1/plan?format=yaml`).
    pub async fn plan(&self) -> Result<Plan> {
        let text = self.plan_yaml().await?;
        Plan::from_yaml(&text).map_err(|e| Error::Protocol {
            request: "GET /v1/plan".into(),
            message: e.to_string(),
        })
    }

    /// The current plan as the YAML text Pebble returns.
    pub async fn plan_yaml(&self) -> Result<String> {
        self.sync_json::<String, ()>(Method::GET, "/v1/plan", &[("format", "yaml".into())], None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_layers_combines_in_order_and_sets_default_threshold() {
        let base = Layer::from_yaml(
            "services: {web: {override: replace, command: web, startup: enabled}}\n\
             checks: {up: {override: replace, tcp: {port: 80}}}",
        )
        .unwrap();
        let update =
            Layer::from_yaml("services: {web: {override: merge, environment: {A: '1'}}}").unwrap();
        let plan = Plan::from_layers([("base", &base), ("update", &update)]).unwrap();
        assert_eq!(plan.services["web"].environment["A"], "1");
        assert_eq!(plan.checks["up"].threshold, Some(3));
        let again = Plan::from_yaml(&plan.to_yaml().unwrap()).unwrap();
        assert_eq!(again, plan);
    }

    #[test]
    fn plan_rules_name_the_offending_entry() {
        for (yaml, want) in [
            (
                "services: {web: {override: replace, startup: enabled}}",
                "plan must define \"command\" for service \"web\"",
            ),
            (
                "checks: {c: {override: replace}}",
                "one of \"http\", \"tcp\", or \"exec\" for check \"c\"",
            ),
            (
                "checks: {c: {override: replace, http: {url: 'http://x/'}, tcp: {port: 1}}}",
                "for check \"c\"",
            ),
            (
                "checks: {c: {override: replace, tcp: {}}}",
                "\"port\" for tcp check \"c\"",
            ),
            (
                "log-targets: {t: {override: replace, location: x}}",
                "\"type\" (\"loki\" or \"syslog\") for log target \"t\"",
            ),
            (
                "log-targets: {t: {override: replace, type: loki, location: x, services: [nope]}}",
                "unknown service \"nope\"",
            ),
        ] {
            let layer = Layer::from_yaml(yaml).unwrap();
            let err = Plan::from_layers([("l", &layer)]).unwrap_err();
            assert!(err.to_string().contains(want), "{yaml}: {err}");
        }
    }
}
