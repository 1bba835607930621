//! Pod admission (the `admission` option): the objects through which the API server calls the
//! controller's mutating webhook, and the names the controller is told.
//!
//! The controller serves the webhook on every replica (port [`WEBHOOK_PORT`] of each unit's
//! pod), keeps its own serving certificate in the Secret [`WebhookNames::secret`], and writes
//! its CA into the configuration's `caBundle`. The charm's leader applies, with server-side
//! apply ([`crate::cluster`]):
//! - the Service [`WebhookNames::service`] in the model's namespace, 443 -> the webhook port,
//!   selecting the application's pods by the label Juju puts on them
//!   (`app.kubernetes.io/name: <app>`, as Juju's own Service for the application does);
//! - the MutatingWebhookConfiguration [`WebhookNames::configuration`] (cluster-scoped, so named
//!   after the model and the application), as fixed with the controller: CREATE of pods,
//!   `failurePolicy: Ignore` and a 5 s timeout so that a dead or slow controller never holds up
//!   a pod, leaving out kube-system, the model's namespace and whatever is labelled
//!   `image-backup.k8slab.io/admission: disabled`.
//!
//! `caBundle` is the controller's: the charm never sets it, so its field manager never owns it
//! and a re-apply (`force` included) leaves the controller's CA in place. The configuration's
//! `webhooks` is a list keyed by name and `clientConfig` a plain struct, so the two managers
//! own disjoint fields of the same webhook.
//!
//! Only the names follow the application: the Service `<app>-webhook` and the Secret
//! `<app>-webhook-tls` (the controller's defaults for an application named `image-backup`), so
//! that two applications in one model do not share them.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::{Owner, label};

/// The webhook's HTTPS port in the controller container (`--webhook-addr`).
pub const WEBHOOK_PORT: u16 = 9443;
/// The one webhook in the configuration.
pub const WEBHOOK_NAME: &str = "pods.image-backup.k8slab.io";
/// Where the controller serves it.
pub const WEBHOOK_PATH: &str = "/mutate/pods";
/// The label (on a namespace or a pod) that keeps pods out of admission, with [`OPT_OUT`].
pub const OPT_OUT_LABEL: &str = "image-backup.k8slab.io/admission";
pub const OPT_OUT: &str = "disabled";
/// The label Juju selects an application's pods by.
pub const APP_LABEL: &str = "app.kubernetes.io/name";
/// Well under the API server's 30 s maximum: a pod waits at most this long for the controller.
pub const TIMEOUT_SECONDS: i32 = 5;
/// The Service's port: what the API server dials.
const SERVICE_PORT: i32 = 443;

/// The names of the webhook's objects for one application: what the charm applies and what it
/// tells the controller through the Pebble layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookNames {
    /// The model's namespace: the Service's and the Secret's, and left out of admission.
    pub namespace: String,
    /// The application: its pods are the Service's endpoints.
    pub app: String,
    /// The Service fronting the webhook.
    pub service: String,
    /// The cluster-scoped MutatingWebhookConfiguration.
    pub configuration: String,
    /// The Secret with the controller's CA and serving certificate.
    pub secret: String,
}

impl WebhookNames {
    pub fn new(owner: &Owner) -> WebhookNames {
        WebhookNames {
            namespace: owner.model.clone(),
            app: owner.app.clone(),
            service: format!("{}-webhook", owner.app),
            configuration: format!("image-backup-{}-{}", owner.model, owner.app),
            secret: format!("{}-webhook-tls", owner.app),
        }
    }

    /// The Service in the model's namespace: 443 -> the webhook port of every unit's pod.
    pub fn service(&self, owner: &Owner) -> Service {
        let mut metadata = ObjectMeta {
            name: Some(self.service.clone()),
            namespace: Some(self.namespace.clone()),
            ..ObjectMeta::default()
        };
        label(owner, &mut metadata.labels);
        Service {
            metadata,
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([(APP_LABEL.into(), self.app.clone())])),
                ports: Some(vec![ServicePort {
                    name: Some("webhook".into()),
                    port: SERVICE_PORT,
                    // Part of the ports' list key: server-side apply needs it spelled out.
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::Int(WEBHOOK_PORT.into())),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    /// The MutatingWebhookConfiguration, without `caBundle` (the controller's).
    pub fn configuration(&self, owner: &Owner) -> MutatingWebhookConfiguration {
        let mut metadata = ObjectMeta {
            name: Some(self.configuration.clone()),
            ..ObjectMeta::default()
        };
        label(owner, &mut metadata.labels);
        let not_in = |key: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: "NotIn".into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let strings = |values: &[&str]| Some(values.iter().map(|v| v.to_string()).collect());
        MutatingWebhookConfiguration {
            metadata,
            webhooks: Some(vec![MutatingWebhook {
                name: WEBHOOK_NAME.into(),
                admission_review_versions: vec!["v1".into()],
                client_config: WebhookClientConfig {
                    ca_bundle: None,
                    service: Some(ServiceReference {
                        namespace: self.namespace.clone(),
                        name: self.service.clone(),
                        path: Some(WEBHOOK_PATH.into()),
                        port: Some(SERVICE_PORT),
                    }),
                    url: None,
                },
                rules: Some(vec![RuleWithOperations {
                    api_groups: strings(&[""]),
                    api_versions: strings(&["v1"]),
                    operations: strings(&["CREATE"]),
                    resources: strings(&["pods"]),
                    scope: Some("Namespaced".into()),
                }]),
                failure_policy: Some("Ignore".into()),
                side_effects: "None".into(),
                timeout_seconds: Some(TIMEOUT_SECONDS),
                reinvocation_policy: Some("Never".into()),
                match_policy: Some("Equivalent".into()),
                namespace_selector: Some(LabelSelector {
                    match_expressions: Some(vec![
                        not_in(
                            "kubernetes.io/metadata.name",
                            &["kube-system", &self.namespace],
                        ),
                        not_in(OPT_OUT_LABEL, &[OPT_OUT]),
                    ]),
                    match_labels: None,
                }),
                object_selector: Some(LabelSelector {
                    match_expressions: Some(vec![not_in(OPT_OUT_LABEL, &[OPT_OUT])]),
                    match_labels: None,
                }),
                match_conditions: None,
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner::example()
    }

    #[test]
    fn names_follow_the_model_and_the_application() {
        let names = WebhookNames::new(&owner());
        assert_eq!(names.service, "image-backup-webhook");
        assert_eq!(names.configuration, "image-backup-prod-image-backup");
        assert_eq!(names.secret, "image-backup-webhook-tls");
        let other = WebhookNames::new(&Owner {
            model: "staging".into(),
            app: "backups".into(),
        });
        assert_eq!(
            (other.service.as_str(), other.configuration.as_str()),
            ("backups-webhook", "image-backup-staging-backups")
        );
    }

    #[test]
    fn the_service_sends_443_to_the_webhook_port_of_the_application_pods() {
        let service = WebhookNames::new(&owner()).service(&owner());
        assert_eq!(
            serde_json::to_value(&service).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "image-backup-webhook",
                    "namespace": "prod",
                    "labels": {
                        "app.juju.is/created-by": "image-backup",
                        "app.kubernetes.io/managed-by": "juju",
                        "model.juju.is/name": "prod",
                    },
                },
                "spec": {
                    "selector": { "app.kubernetes.io/name": "image-backup" },
                    "ports": [
                        { "name": "webhook", "port": 443, "protocol": "TCP", "targetPort": 9443 }
                    ],
                },
            })
        );
    }

    /// The configuration exactly as the contract with the controller fixes it, and no
    /// `caBundle`: the field stays the controller's.
    #[test]
    fn the_configuration_never_blocks_and_leaves_out_what_it_must() {
        let configuration = WebhookNames::new(&owner()).configuration(&owner());
        let value = serde_json::to_value(&configuration).unwrap();
        assert_eq!(value["metadata"]["name"], "image-backup-prod-image-backup");
        assert!(value["metadata"].get("namespace").is_none());
        assert_eq!(
            value["webhooks"],
            json!([{
                "name": "pods.image-backup.k8slab.io",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "service": {
                        "namespace": "prod",
                        "name": "image-backup-webhook",
                        "path": "/mutate/pods",
                        "port": 443,
                    },
                },
                "rules": [{
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE"],
                    "resources": ["pods"],
                    "scope": "Namespaced",
                }],
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "timeoutSeconds": 5,
                "reinvocationPolicy": "Never",
                "matchPolicy": "Equivalent",
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": ["kube-system", "prod"],
                        },
                        {
                            "key": "image-backup.k8slab.io/admission",
                            "operator": "NotIn",
                            "values": ["disabled"],
                        },
                    ],
                },
                "objectSelector": {
                    "matchExpressions": [{
                        "key": "image-backup.k8slab.io/admission",
                        "operator": "NotIn",
                        "values": ["disabled"],
                    }],
                },
            }])
        );
    }
}
