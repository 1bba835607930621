//! `deploy/webhook.yaml` and the webhook roles of `deploy/rbac.yaml` agree with the code: the
//! names of the flags' defaults, the path, the port, the opt-out label, the timeout.

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

use super::availability::Limits;
use super::{DISABLED, SKIP_LABEL, WEBHOOK_NAME, webhook};
use crate::config::{Args, ControllerConfig};

fn defaults() -> ControllerConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    ControllerConfig::try_from(Cli::parse_from(["t", "--backup-registry", "r.local"]).args).unwrap()
}

fn documents(file: &str) -> Vec<serde_yaml::Value> {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(docs: &[serde_yaml::Value], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .map(|d| serde_yaml::from_value(d.clone()).unwrap())
        .collect()
}

/// `key NotIn values` of a selector, as a map.
fn not_in(selector: &LabelSelector) -> Vec<(String, Vec<String>)> {
    selector
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            assert_eq!(e.operator, "NotIn", "{e:?}");
            (e.key.clone(), e.values.clone().unwrap_or_default())
        })
        .collect()
}

#[test]
fn webhook_yaml_matches_the_code() {
    let config = defaults();
    let docs = documents("webhook.yaml");
    let [service]: [Service; 1] = of_kind(&docs, "Service").try_into().unwrap();
    assert_eq!(
        service.metadata.name.as_deref(),
        Some(config.admission.service.as_str())
    );
    assert_eq!(
        service.metadata.namespace.as_deref(),
        Some(config.namespace.as_str())
    );
    let spec = service.spec.unwrap();
    assert_eq!(
        spec.selector.unwrap()["app.kubernetes.io/name"],
        "image-backup-controller"
    );
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.port, 443);
    assert_eq!(
        port.target_port,
        Some(IntOrString::Int(i32::from(config.admission.addr.port())))
    );

    let [configuration]: [MutatingWebhookConfiguration; 1] =
        of_kind(&docs, "MutatingWebhookConfiguration")
            .try_into()
            .unwrap();
    assert_eq!(
        configuration.metadata.name.as_deref(),
        Some(config.admission.configuration.as_str())
    );
    let [hook]: [_; 1] = configuration.webhooks.unwrap().try_into().unwrap();
    assert_eq!(hook.name, WEBHOOK_NAME);
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(hook.side_effects, "None");
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("Never"));
    assert_eq!(hook.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(hook.admission_review_versions, ["v1"]);
    // The answer comes within the budget, well inside the timeout.
    let timeout = hook.timeout_seconds.unwrap();
    assert_eq!(timeout, 5);
    assert!(Limits::default().budget.as_secs_f64() * 2.0 <= f64::from(timeout));
    let service_ref = hook.client_config.service.unwrap();
    assert_eq!(service_ref.name, config.admission.service);
    assert_eq!(service_ref.namespace, config.namespace);
    assert_eq!(service_ref.path.as_deref(), Some(webhook::PATH));
    assert_eq!(service_ref.port, Some(443));
    assert!(
        hook.client_config.ca_bundle.is_none(),
        "the controller writes it"
    );
    let [rule]: [_; 1] = hook.rules.unwrap().try_into().unwrap();
    assert_eq!(rule.operations, Some(vec!["CREATE".to_string()]));
    assert_eq!(rule.resources, Some(vec!["pods".to_string()]));
    assert_eq!(rule.api_groups, Some(vec![String::new()]));
    assert_eq!(
        not_in(&hook.namespace_selector.unwrap()),
        [
            (
                "kubernetes.io/metadata.name".to_string(),
                vec!["kube-system".to_string(), config.namespace.clone()]
            ),
            (SKIP_LABEL.to_string(), vec![DISABLED.to_string()]),
        ]
    );
    assert_eq!(
        not_in(&hook.object_selector.unwrap()),
        [(SKIP_LABEL.to_string(), vec![DISABLED.to_string()])]
    );
}

#[test]
fn rbac_grants_the_webhook_exactly_its_objects() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
    let config = defaults();
    let docs = documents("rbac.yaml");
    let roles: Vec<Role> = of_kind(&docs, "Role");
    let role = roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("image-backup-controller-webhook"))
        .unwrap();
    let rules = role.rules.clone().unwrap();
    assert_eq!(
        rules[0].resource_names,
        Some(vec![config.admission.secret.clone()])
    );
    assert_eq!(rules[0].verbs, ["get", "update"]);
    assert_eq!(
        (rules[1].resource_names.clone(), rules[1].verbs.clone()),
        (None, vec!["create".to_string()])
    );
    let cluster_roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    let cluster_role = cluster_roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("image-backup-controller-webhook"))
        .unwrap();
    let [rule]: [_; 1] = cluster_role.rules.clone().unwrap().try_into().unwrap();
    assert_eq!(
        rule.resources,
        Some(vec!["mutatingwebhookconfigurations".to_string()])
    );
    assert_eq!(
        rule.resource_names,
        Some(vec![config.admission.configuration.clone()])
    );
    assert_eq!(rule.verbs, ["get", "patch"]);
    // Both are bound to the controller's service account.
    for kind in ["RoleBinding", "ClusterRoleBinding"] {
        assert!(
            docs.iter().any(|d| d["kind"].as_str() == Some(kind)
                && d["roleRef"]["name"].as_str() == Some("image-backup-controller-webhook")
                && d["subjects"][0]["name"].as_str() == Some("image-backup-controller")),
            "{kind}"
        );
    }
}
