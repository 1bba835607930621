//! State-transition tests of the whole charm: config, Pebble (the harness's fake Pebble),
//! secrets, the image-backup relation against a fake controller behind the real gRPC server,
//! the CRD/RBAC apply against a mock API server, metrics-endpoint.

mod support;

use charm_core::Status;
use charm_core::event::Event;
use charm_core::metadata::ConfigValue;
use charm_core::pebble::fake::ContainerState;
use charm_core::pebble::{CheckStatus, ServiceStatus};
use charm_core::testing::{Context, Relation, Secret, State};
use image_backup_charm::charm::APPLIED_KEY;
use image_backup_charm::workload::{CREDENTIALS_FILE_ENV, CREDENTIALS_PATH, READY_CHECK, SERVICE};
use proto::image_backup::v1::BackupPhase;
use support::*;

const REGISTRY: &str = "reg.example:5000/backups";

fn ctx() -> Context<TestCharm> {
    Context::<TestCharm>::new(metadata())
}

/// The `controller` container, Pebble up and empty.
fn up() -> std::collections::BTreeMap<String, ContainerState> {
    [("controller".to_string(), ContainerState::new())].into()
}

fn controller(state: &State) -> &ContainerState {
    &state.containers["controller"]
}

/// The kinds of the Pebble changes the hook caused (`replan`, `restart`...).
fn changes(state: &State) -> Vec<String> {
    controller(state)
        .changes
        .iter()
        .map(|c| c.kind.clone())
        .collect()
}

fn config(pairs: &[(&str, ConfigValue)]) -> std::collections::BTreeMap<String, ConfigValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(v: &str) -> ConfigValue {
    ConfigValue::String(v.into())
}

fn configured() -> State {
    State {
        config: config(&[("backup-registry", s(REGISTRY))]),
        containers: up(),
        ..State::default()
    }
}

fn pebble_ready() -> Event {
    Event::PebbleReady {
        container: "controller".into(),
    }
}

#[test]
fn without_a_registry_the_unit_is_blocked_and_nothing_runs() {
    let state = State {
        containers: up(),
        ..State::default()
    };
    let out = ctx().run(pebble_ready(), state).unwrap();
    let status = out.unit_status.as_ref().unwrap();
    assert_eq!(status.name().as_str(), "blocked");
    assert!(
        status
            .message()
            .starts_with("invalid config: backup-registry: not set"),
        "{status:?}"
    );
    assert!(controller(&out).layers.is_empty());
}

#[test]
fn invalid_config_names_every_option_and_leaves_the_controller_running() {
    let running = ctx().run(pebble_ready(), configured()).unwrap();
    let mut state = running.clone();
    state.config = config(&[
        ("backup-registry", s(REGISTRY)),
        ("concurrency", ConfigValue::Int(0)),
        ("recheck-interval", s("soon")),
    ]);
    let out = ctx().run(Event::ConfigChanged, state).unwrap();
    let status = out.unit_status.as_ref().unwrap();
    assert_eq!(status.name().as_str(), "blocked");
    assert!(
        status
            .message()
            .contains("concurrency: 0 is not between 1 and 64")
            && status.message().contains("recheck-interval: \"soon\""),
        "{status:?}"
    );
    assert_eq!(
        controller(&out).layers,
        controller(&running).layers,
        "the last good layer stays"
    );
    assert!(changes(&out).is_empty());
}

#[test]
fn pebble_ready_starts_the_controller_and_reports_its_health() {
    // Before Pebble is up: waiting, nothing fails.
    let mut early = configured();
    early.containers = [("controller".to_string(), ContainerState::unreachable())].into();
    let out = ctx().run(Event::ConfigChanged, early).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::waiting(
            "waiting for Pebble in the controller container"
        ))
    );

    let out = ctx().run(pebble_ready(), configured()).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::active(format!("backing up to {REGISTRY}")))
    );
    let plan = controller(&out).plan().unwrap();
    let env = &plan.services[SERVICE].environment;
    assert_eq!(env["IMAGE_BACKUP_BACKUP_REGISTRY"], REGISTRY);
    assert_eq!(env["IMAGE_BACKUP_NAMESPACE"], "test-model");
    assert_eq!(
        controller(&out).service_statuses.get(SERVICE),
        Some(&ServiceStatus::Active)
    );
    assert_eq!(changes(&out), ["replan"]);
    assert!(
        out.tool_calls.iter().any(|c| c == "open-port 50051/tcp"),
        "{:?}",
        out.tool_calls
    );

    // The readiness check failing shows in the status.
    let mut failing = out.clone();
    failing.containers.insert(
        "controller".into(),
        controller(&out)
            .clone()
            .with_check(READY_CHECK, CheckStatus::Down, 3),
    );
    let out = ctx().run(Event::UpdateStatus, failing).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::waiting(
            "controller not ready: /readyz failed 3 times in a row"
        ))
    );
    assert!(changes(&out).is_empty(), "{:?}", changes(&out));
}

#[test]
fn an_unchanged_config_does_not_replan() {
    let out = ctx().run(pebble_ready(), configured()).unwrap();
    let again = ctx().run(Event::ConfigChanged, out.clone()).unwrap();
    assert!(changes(&again).is_empty(), "{:?}", changes(&again));
    assert_eq!(controller(&again).layers, controller(&out).layers);

    // A changed option replans with the new environment.
    let mut state = again;
    state
        .config
        .insert("rollout".into(), ConfigValue::Boolean(true));
    let out = ctx().run(Event::ConfigChanged, state).unwrap();
    assert_eq!(changes(&out), ["replan"]);
    assert_eq!(
        controller(&out).plan().unwrap().services[SERVICE].environment["IMAGE_BACKUP_ROLLOUT"],
        "true"
    );
}

fn with_credentials(secret: &Secret) -> State {
    let mut state = configured();
    state
        .config
        .insert("registry-credentials".into(), s(&secret.id));
    state.secrets = vec![secret.clone()];
    state
}

fn credentials_file(state: &State) -> serde_json::Value {
    serde_json::from_slice(&controller(state).files[CREDENTIALS_PATH]).unwrap()
}

#[test]
fn credentials_are_pushed_as_a_file_never_into_the_layer() {
    // The file's mode (0600) is checked in `workload`'s tests, against the fake's files.
    let secret = Secret::new([("username", "robot"), ("password", "hunter2")]);
    let out = ctx()
        .run(pebble_ready(), with_credentials(&secret))
        .unwrap();
    assert_eq!(out.unit_status.as_ref().unwrap().name().as_str(), "active");

    // base64("robot:hunter2")
    assert_eq!(
        credentials_file(&out)["auths"]["reg.example:5000"]["auth"],
        "cm9ib3Q6aHVudGVyMg=="
    );
    let plan = controller(&out).plan().unwrap();
    assert_eq!(
        plan.services[SERVICE].environment[CREDENTIALS_FILE_ENV],
        CREDENTIALS_PATH
    );
    let plan_text = format!("{plan:?}");
    assert!(!plan_text.contains("hunter2") && !plan_text.contains("cm9ib3Q6"));
    assert!(
        out.log_messages().iter().all(|m| !m.contains("hunter2")),
        "{:?}",
        out.log_messages()
    );
}

#[test]
fn a_new_secret_revision_restarts_the_controller_with_the_new_file() {
    let secret = Secret::new([("username", "robot"), ("password", "one")]);
    let out = ctx()
        .run(pebble_ready(), with_credentials(&secret))
        .unwrap();

    let rotated = secret
        .clone()
        .with_latest([("username", "robot"), ("password", "two")]);
    let mut state = with_credentials(&rotated);
    state.containers = out.containers.clone();
    let out = ctx()
        .run(
            Event::SecretChanged(charm_core::event::SecretEvent {
                id: secret.id.clone(),
                label: None,
                revision: None,
            }),
            state,
        )
        .unwrap();
    assert!(
        out.tool_calls
            .iter()
            .any(|c| c.starts_with("secret-get") && c.contains("--refresh")),
        "{:?}",
        out.tool_calls
    );
    // base64("robot:two")
    assert_eq!(
        credentials_file(&out)["auths"]["reg.example:5000"]["auth"],
        "cm9ib3Q6dHdv"
    );
    assert_eq!(changes(&out), ["restart"], "restarted, not replanned");
}

#[test]
fn unusable_credentials_block_with_what_to_do() {
    let ctx = ctx();

    // Not granted: the secret is not in the unit's view.
    let mut state = configured();
    state.config.insert(
        "registry-credentials".into(),
        s("secret:d1k2m3n4o5p6q7r8s9t0"),
    );
    let out = ctx.run(Event::ConfigChanged, state).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(
            "registry-credentials: secret secret:d1k2m3n4o5p6q7r8s9t0 not found or not granted: \
             run `juju grant-secret secret:d1k2m3n4o5p6q7r8s9t0 image-backup`"
        ))
    );

    // Wrong keys.
    let secret = Secret::new([("user", "robot")]);
    let out = ctx
        .run(Event::ConfigChanged, with_credentials(&secret))
        .unwrap();
    let status = out.unit_status.unwrap();
    assert_eq!(status.name().as_str(), "blocked");
    assert!(
        status
            .message()
            .contains("must hold non-empty `username` and `password`"),
        "{status:?}"
    );
}

// The image-backup relation, provider side.

/// A leader also applies the CRD and RBAC: let it.
fn kube_that_accepts() -> MockKube {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    kube
}

fn requirer(images: &[&str]) -> Relation {
    let images = serde_json::to_string(images).unwrap();
    Relation::new("image-backup", "cloudcasa").remote_app_data([("images", images)])
}

#[test]
fn the_leader_backs_up_requested_images_and_publishes_the_done_ones() {
    let _kube = kube_that_accepts();
    let controller = FakeController::default()
        .with(backup(
            "docker.io/catalogicsoftware/amds-kagent:3.4",
            BackupPhase::Done,
        ))
        .with(backup("ghcr.io/acme/failing:1", BackupPhase::Failed));
    let server = controller.serve();
    use_api(&server.address);

    let relation = requirer(&[
        "docker.io/catalogicsoftware/amds-kagent:3.4",
        "ghcr.io/acme/new:2",
        "ghcr.io/acme/failing:1",
    ]);
    let state = State {
        leader: true,
        relations: vec![relation.clone()],
        ..configured()
    };
    let out = ctx().run(relation_changed(&relation), state).unwrap();

    let bag = &out.relations[0].local_app_data;
    assert_eq!(bag["registry"], REGISTRY);
    assert_eq!(
        bag["api-address"],
        "http://image-backup.test-model.svc.cluster.local:50051"
    );
    let backups: serde_json::Value = serde_json::from_str(&bag["backups"]).unwrap();
    assert_eq!(
        backups,
        serde_json::json!([{
            "source": "docker.io/catalogicsoftware/amds-kagent:3.4",
            "reference": "reg.example:5000/backups/docker.io/catalogicsoftware/amds-kagent:3.4",
            "digest": DIGEST,
        }])
    );
    let calls = controller.calls();
    assert!(
        calls.contains(&"BackupNow ghcr.io/acme/new:2 force=false".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("BackupNow ghcr.io/acme/failing")),
        "failed backups are not retried from the relation: {calls:?}"
    );
    assert_eq!(
        out.unit_status,
        Some(Status::active(format!(
            "backing up to {REGISTRY}; 1/3 requested images backed up; backup of \
             ghcr.io/acme/failing:1 failed (unauthorized)"
        )))
    );

    // Next hook, once the new image is done: it is published too, and only then.
    controller.backups.lock().unwrap().insert(
        "ghcr.io/acme/new:2".into(),
        backup("ghcr.io/acme/new:2", BackupPhase::Done),
    );
    let out = ctx().run(Event::UpdateStatus, out).unwrap();
    let backups: serde_json::Value =
        serde_json::from_str(&out.relations[0].local_app_data["backups"]).unwrap();
    assert_eq!(backups.as_array().unwrap().len(), 2);
}

#[test]
fn published_backups_survive_a_controller_that_cannot_be_asked() {
    let _kube = kube_that_accepts();
    let controller = FakeController::default().with(backup("nginx:1.27", BackupPhase::Done));
    let server = controller.serve();
    use_api(&server.address);
    let relation = requirer(&["nginx:1.27"]);
    let state = State {
        leader: true,
        relations: vec![relation.clone()],
        ..configured()
    };
    let ctx = ctx();
    let out = ctx.run(relation_changed(&relation), state).unwrap();
    let published = out.relations[0].local_app_data.clone();
    assert!(published.contains_key("backups"));

    drop(server);
    use_api("http://127.0.0.1:1");
    let out = ctx.run(Event::UpdateStatus, out).unwrap();
    assert_eq!(out.relations[0].local_app_data, published);
    let status = out.unit_status.unwrap();
    assert!(
        status.message().ends_with("controller API unavailable"),
        "{status:?}"
    );
}

#[test]
fn non_leaders_and_silent_requirers_get_no_backups_asked() {
    let _kube = kube_that_accepts();
    let controller = FakeController::default();
    let server = controller.serve();
    use_api(&server.address);
    let relation = requirer(&["nginx:1.27"]);
    let out = ctx()
        .run(
            relation_changed(&relation),
            State {
                relations: vec![relation.clone()],
                ..configured()
            },
        )
        .unwrap();
    assert!(out.relations[0].local_app_data.is_empty());
    assert!(controller.calls().is_empty());

    // A requirer that wrote nothing yet still learns the registry and the API address.
    let silent = Relation::new("image-backup", "cloudcasa");
    let out = ctx()
        .run(
            relation_changed(&silent),
            State {
                leader: true,
                relations: vec![silent.clone()],
                ..configured()
            },
        )
        .unwrap();
    assert_eq!(out.relations[0].local_app_data["registry"], REGISTRY);
    assert!(!out.relations[0].local_app_data.contains_key("backups"));
    assert!(controller.calls().is_empty());
}

#[test]
fn an_invalid_request_is_reported_not_fatal() {
    let _kube = kube_that_accepts();
    let relation = Relation::new("image-backup", "weird").remote_app_data([("images", "nginx")]);
    let out = ctx()
        .run(
            relation_changed(&relation),
            State {
                leader: true,
                relations: vec![relation.clone()],
                ..configured()
            },
        )
        .unwrap();
    let status = out.unit_status.unwrap();
    assert_eq!(status.name().as_str(), "active");
    assert!(
        status
            .message()
            .contains("invalid request from weird (images)"),
        "{status:?}"
    );
}

// CRD and RBAC.

#[test]
fn install_applies_crd_and_rbac_once_and_forbidden_asks_for_trust() {
    let ctx = ctx();
    let state = State {
        leader: true,
        ..configured()
    };

    let refused = MockKube::answering(403);
    use_kube(&refused);
    let out = ctx.run(Event::Install, state.clone()).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(
            "not allowed to apply CustomResourceDefinition imagebackups.k8slab.io: run \
             `juju trust image-backup --scope=cluster`"
        ))
    );
    assert!(!out.stored.contains_key(APPLIED_KEY));

    // `juju trust` fires config-changed: the leader tries again and succeeds.
    let allowed = MockKube::answering(200);
    use_kube(&allowed);
    let out = ctx.run(Event::ConfigChanged, out).unwrap();
    assert_eq!(out.unit_status.as_ref().unwrap().name().as_str(), "active");
    let requests = allowed.requests();
    // Admission is off: its objects are deleted after the rest is applied (see
    // tests/admission.rs).
    let applied: Vec<(String, String)> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        applied,
        [
            (
                "PATCH",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagebackups.k8slab.io"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/test-model-image-backup-controller"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/test-model-image-backup-controller-rollout"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/test-model-image-backup-controller-pull-secrets"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/namespaces/test-model/roles/image-backup-controller"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/test-model-image-backup-controller"
            ),
            (
                "PATCH",
                "/apis/rbac.authorization.k8s.io/v1/namespaces/test-model/rolebindings/image-backup-controller"
            ),
        ]
        .map(|(m, p)| (m.to_string(), p.to_string()))
    );
    assert_eq!(
        requests[5].body["subjects"][0],
        serde_json::json!({"kind": "ServiceAccount", "name": "image-backup", "namespace": "test-model"})
    );
    assert!(out.stored.contains_key(APPLIED_KEY));

    // Nothing changed: no request. Rollout on: applied again, with its binding.
    let seen = allowed.requests().len();
    let out = ctx.run(Event::ConfigChanged, out).unwrap();
    assert_eq!(allowed.requests().len(), seen);
    let mut rollout = out;
    rollout
        .config
        .insert("rollout".into(), ConfigValue::Boolean(true));
    ctx.run(Event::ConfigChanged, rollout).unwrap();
    assert!(allowed.requests()[seen..].iter().any(|r| {
        r.path
            .ends_with("clusterrolebindings/test-model-image-backup-controller-rollout")
    }));
}

#[test]
fn only_the_leader_applies() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    ctx().run(Event::Install, configured()).unwrap();
    assert!(kube.requests().is_empty());
}

#[test]
fn a_failing_api_server_is_retried_on_the_next_hook() {
    let kube = MockKube::answering(500);
    use_kube(&kube);
    let out = ctx()
        .run(
            Event::Install,
            State {
                leader: true,
                ..configured()
            },
        )
        .unwrap();
    let status = out.unit_status.unwrap();
    assert_eq!(status.name().as_str(), "waiting");
    assert!(
        status
            .message()
            .starts_with("applying CRD and RBAC (retried next hook)"),
        "{status:?}"
    );
    assert!(!out.stored.contains_key(APPLIED_KEY));
}

// metrics-endpoint.

#[test]
fn metrics_endpoint_bags_follow_the_prometheus_scrape_library() {
    let _kube = kube_that_accepts();
    let relation = Relation::new("metrics-endpoint", "prometheus");
    let out = ctx()
        .run(
            relation_changed(&relation),
            State {
                leader: true,
                relations: vec![relation],
                ..configured()
            },
        )
        .unwrap();
    let rel = &out.relations[0];
    let jobs: serde_json::Value = serde_json::from_str(&rel.local_app_data["scrape_jobs"]).unwrap();
    assert_eq!(jobs[0]["static_configs"][0]["targets"][0], "*:8080");
    let meta: serde_json::Value =
        serde_json::from_str(&rel.local_app_data["scrape_metadata"]).unwrap();
    assert_eq!(meta["model"], "test-model");
    assert_eq!(meta["application"], "image-backup");
    assert_eq!(meta["charm_name"], "image-backup");
    assert_eq!(
        rel.local_unit_data["prometheus_scrape_unit_name"],
        "image-backup/0"
    );
    assert_eq!(
        rel.local_unit_data["prometheus_scrape_unit_address"],
        "192.0.2.0"
    );

    // Unchanged: no relation-set.
    let out = ctx().run(Event::UpdateStatus, out).unwrap();
    assert!(
        !out.tool_calls.iter().any(|c| c.starts_with("relation-set")),
        "{:?}",
        out.tool_calls
    );
}

// Stop and remove.

#[test]
fn stop_touches_nothing_and_removing_the_application_deletes_the_rbac_and_webhook() {
    let kube = MockKube::answering(200);
    use_kube(&kube);
    let running = ctx().run(pebble_ready(), configured()).unwrap();

    let out = ctx().run(Event::Stop, running.clone()).unwrap();
    assert!(changes(&out).is_empty());
    assert!(out.tool_calls.is_empty(), "{:?}", out.tool_calls);

    // One unit of several goes: nothing deleted.
    let mut scaling_down = running.clone();
    scaling_down.planned_units = Some(1);
    ctx().run(Event::Remove, scaling_down).unwrap();
    assert!(kube.requests().is_empty());

    let mut removing = running;
    removing.planned_units = Some(0);
    let out = ctx().run(Event::Remove, removing).unwrap();
    assert!(
        out.log_messages()
            .contains(&"removed the controller's RBAC and admission webhook"),
        "{:?}",
        out.log_messages()
    );
    let deleted: Vec<String> = kube
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.method, "DELETE");
            r.path.rsplit('/').take(2).collect::<Vec<_>>().join("<")
        })
        .collect();
    // Whatever the admission setting was: the webhook first, so that nothing calls it.
    assert_eq!(
        deleted[..2],
        [
            "image-backup-test-model-image-backup<mutatingwebhookconfigurations",
            "image-backup-webhook<services",
        ]
    );
    let admission_rbac = deleted[2..]
        .iter()
        .filter(|d| d.contains("-controller-webhook<"))
        .count();
    assert_eq!(
        deleted[2 + admission_rbac..],
        [
            "test-model-image-backup-controller<clusterrolebindings",
            "test-model-image-backup-controller-rollout<clusterrolebindings",
            "image-backup-controller<rolebindings",
            "test-model-image-backup-controller<clusterroles",
            "test-model-image-backup-controller-rollout<clusterroles",
            "test-model-image-backup-controller-pull-secrets<clusterroles",
            "image-backup-controller<roles",
        ]
    );
}
