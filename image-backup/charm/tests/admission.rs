//! State-transition tests of pod admission (the `admission` option): the controller's layer,
//! the webhook's objects applied with server-side apply and deleted against a mock API
//! server, trust, and a bad value.

mod support;

use charm_core::Status;
use charm_core::event::Event;
use charm_core::metadata::ConfigValue;
use charm_core::pebble::fake::ContainerState;
use charm_core::testing::{Context, State};
use image_backup_charm::charm::APPLIED_KEY;
use image_backup_charm::workload::{ADMISSION_ENV, SERVICE, WEBHOOK_CONFIGURATION_ENV};
use serde_json::json;
use support::*;

const REGISTRY: &str = "reg.example:5000/backups";
const CONFIGURATION: &str = "image-backup-test-model-image-backup";
const CONFIGURATION_PATH: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/image-backup-test-model-image-backup";
const SERVICE_PATH: &str = "/api/v1/namespaces/test-model/services/image-backup-webhook";

fn ctx() -> Context<TestCharm> {
    Context::<TestCharm>::new(metadata())
}

/// The leader, configured, Pebble up, with `admission` set to `mode`.
fn leader(mode: &str) -> State {
    State {
        leader: true,
        config: [
            (
                "backup-registry".to_string(),
                ConfigValue::String(REGISTRY.into()),
            ),
            ("admission".to_string(), ConfigValue::String(mode.into())),
        ]
        .into(),
        containers: [("controller".to_string(), ContainerState::new())].into(),
        ..State::default()
    }
}

fn set_admission(state: &State, mode: &str) -> State {
    let mut state = state.clone();
    state
        .config
        .insert("admission".into(), ConfigValue::String(mode.into()));
    state
}

fn env(state: &State) -> std::collections::BTreeMap<String, String> {
    state.containers["controller"].plan().unwrap().services[SERVICE]
        .environment
        .clone()
}

fn changes(state: &State) -> Vec<String> {
    state.containers["controller"]
        .changes
        .iter()
        .map(|c| c.kind.clone())
        .collect()
}

fn requests_since(kube: &MockKube, seen: usize) -> Vec<KubeRequest> {
    kube.requests()[seen..].to_vec()
}

fn calls(requests: &[KubeRequest]) -> Vec<(String, String)> {
    requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

#[test]
fn enabling_applies_the_webhook_last_and_tells_the_controller() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let out = ctx().run(Event::ConfigChanged, leader("failover")).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::active(format!("backing up to {REGISTRY}")))
    );

    let requests = kube.requests();
    assert!(
        requests.iter().all(|r| r.method == "PATCH"),
        "nothing deleted: {:?}",
        calls(&requests)
    );
    // The roles first, the Service, then the configuration: the API server calls nothing that
    // is not there yet.
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths[paths.len() - 2..], [SERVICE_PATH, CONFIGURATION_PATH]);
    let rbac_admission = paths
        .iter()
        .position(|p| p.ends_with("-controller-webhook"));
    if let Some(i) = rbac_admission {
        assert!(i < paths.len() - 2, "{paths:?}");
    }

    let service = &requests[requests.len() - 2].body;
    assert_eq!(
        service["spec"],
        json!({
            "selector": { "app.kubernetes.io/name": "image-backup" },
            "ports": [{ "name": "webhook", "port": 443, "protocol": "TCP", "targetPort": 9443 }],
        })
    );
    let configuration = &requests[requests.len() - 1].body;
    let webhook = &configuration["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Ignore");
    assert_eq!(webhook["timeoutSeconds"], 5);
    assert_eq!(
        webhook["clientConfig"],
        json!({ "service": {
            "namespace": "test-model", "name": "image-backup-webhook",
            "path": "/mutate/pods", "port": 443,
        }}),
        "no caBundle: that field is the controller's"
    );
    assert_eq!(
        webhook["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["kube-system", "test-model"])
    );

    let env = env(&out);
    assert_eq!(env[ADMISSION_ENV], "failover");
    assert_eq!(env[WEBHOOK_CONFIGURATION_ENV], CONFIGURATION);
    assert_eq!(env["IMAGE_BACKUP_WEBHOOK_SERVICE"], "image-backup-webhook");
    assert_eq!(
        env["IMAGE_BACKUP_WEBHOOK_SECRET"],
        "image-backup-webhook-tls"
    );
    assert_eq!(env["IMAGE_BACKUP_WEBHOOK_ADDR"], "0.0.0.0:9443");
    assert!(out.stored.contains_key(APPLIED_KEY));

    // Nothing changed: no request, no replan.
    let seen = kube.requests().len();
    let again = ctx().run(Event::UpdateStatus, out).unwrap();
    assert!(requests_since(&kube, seen).is_empty());
    assert!(changes(&again).is_empty(), "{:?}", changes(&again));
}

#[test]
fn another_mode_replans_the_controller_and_leaves_the_cluster_alone() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let failover = ctx().run(Event::ConfigChanged, leader("failover")).unwrap();
    let seen = kube.requests().len();

    let always = ctx()
        .run(Event::ConfigChanged, set_admission(&failover, "always"))
        .unwrap();
    assert_eq!(env(&always)[ADMISSION_ENV], "always");
    assert_eq!(changes(&always), ["replan"]);
    assert!(
        requests_since(&kube, seen).is_empty(),
        "the same objects serve both modes: {:?}",
        calls(&requests_since(&kube, seen))
    );
}

#[test]
fn disabling_deletes_the_webhook_first_and_the_controller_stops_serving_it() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let on = ctx().run(Event::ConfigChanged, leader("failover")).unwrap();
    let applied = on.stored[APPLIED_KEY].clone();
    let seen = kube.requests().len();

    let off = ctx()
        .run(Event::ConfigChanged, set_admission(&on, "off"))
        .unwrap();
    assert_eq!(
        off.unit_status,
        Some(Status::active(format!("backing up to {REGISTRY}")))
    );
    let requests = requests_since(&kube, seen);
    let deleted: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(deleted[..2], [CONFIGURATION_PATH, SERVICE_PATH]);
    assert!(
        requests
            .iter()
            .all(|r| r.method == "DELETE" || !r.path.contains("webhook")),
        "{:?}",
        calls(&requests)
    );
    assert!(!env(&off).contains_key(ADMISSION_ENV));
    assert!(!env(&off).contains_key(WEBHOOK_CONFIGURATION_ENV));
    assert_eq!(changes(&off), ["replan"]);
    assert_ne!(off.stored[APPLIED_KEY], applied);

    // Off again (e.g. after a pod restart lost the stored fingerprint): deleting what is
    // already gone is fine.
    let absent = MockKube::without_objects();
    use_kube(&absent);
    let mut restarted = off.clone();
    restarted.stored.remove(APPLIED_KEY);
    let out = ctx().run(Event::ConfigChanged, restarted).unwrap();
    assert!(
        absent
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == CONFIGURATION_PATH)
    );
    assert_eq!(out.unit_status, off.unit_status);
    assert_eq!(out.stored[APPLIED_KEY], off.stored[APPLIED_KEY]);
}

#[test]
fn a_refused_webhook_asks_for_trust_and_is_tried_again() {
    let refusing = MockKube::refusing("mutatingwebhookconfigurations");
    use_kube(&refusing);
    let out = ctx().run(Event::ConfigChanged, leader("failover")).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(format!(
            "not allowed to apply MutatingWebhookConfiguration {CONFIGURATION}: run \
             `juju trust image-backup --scope=cluster`"
        )))
    );
    assert!(!out.stored.contains_key(APPLIED_KEY));
    // The controller is configured all the same: the webhook fails open meanwhile.
    assert_eq!(env(&out)[ADMISSION_ENV], "failover");

    let allowed = MockKube::answering(200);
    use_kube(&allowed);
    let out = ctx().run(Event::ConfigChanged, out).unwrap();
    assert_eq!(out.unit_status.as_ref().unwrap().name().as_str(), "active");
    assert_eq!(
        allowed.requests().last().map(|r| r.path.as_str()),
        Some(CONFIGURATION_PATH)
    );

    // Turning it off where deleting is refused: Blocked saying so, not silently left behind.
    let refusing = MockKube::refusing("mutatingwebhookconfigurations");
    use_kube(&refusing);
    let out = ctx()
        .run(Event::ConfigChanged, set_admission(&out, "off"))
        .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(format!(
            "not allowed to delete MutatingWebhookConfiguration {CONFIGURATION}: run \
             `juju trust image-backup --scope=cluster`"
        )))
    );
    // Every other deletion was still tried.
    assert!(
        refusing
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == SERVICE_PATH)
    );
}

#[test]
fn a_bad_mode_blocks_and_touches_neither_the_controller_nor_the_cluster() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let on = ctx().run(Event::ConfigChanged, leader("failover")).unwrap();
    let seen = kube.requests().len();

    let mut bad = set_admission(&on, "sometimes");
    bad.config.insert("concurrency".into(), ConfigValue::Int(0));
    let out = ctx().run(Event::ConfigChanged, bad).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(
            "invalid config: concurrency: 0 is not between 1 and 64; admission: \"sometimes\" \
             is not one of off, failover, always"
        ))
    );
    assert!(requests_since(&kube, seen).is_empty());
    assert!(changes(&out).is_empty());
    assert_eq!(env(&out)[ADMISSION_ENV], "failover");
}

#[test]
fn only_the_leader_applies_but_every_unit_serves_the_webhook() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let mut follower = leader("always");
    follower.leader = false;
    let out = ctx().run(Event::ConfigChanged, follower).unwrap();
    assert!(kube.requests().is_empty());
    assert_eq!(env(&out)[ADMISSION_ENV], "always");
}

#[test]
fn removing_the_application_deletes_the_webhook_even_when_already_gone() {
    let kube = MockKube::without_objects();
    use_kube(&kube);
    let mut removing = leader("failover");
    removing.planned_units = Some(0);
    let out = ctx().run(Event::Remove, removing).unwrap();
    let deleted: Vec<String> = kube
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(deleted[..2], [CONFIGURATION_PATH, SERVICE_PATH]);
    assert!(
        out.log_messages()
            .contains(&"removed the controller's RBAC and admission webhook"),
        "{:?}",
        out.log_messages()
    );
}
