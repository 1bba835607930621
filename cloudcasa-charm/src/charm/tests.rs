//! State-transition tests: each hook runs through charm-core's testing harness (the same flow
//! as in production, over an in-memory Juju), while the charm talks to the scripted API server
//! of [`crate::cluster::mock`], which checks every request it makes. A test states the Juju
//! state in, the requests the hook must make, and the state out.
//!
//! The harness runs the hook on its own runtime on the test's thread; the API server runs on a
//! second thread. The charm connects through [`Scripted`], which takes the client's service
//! from a thread-local the test fills, and retries nothing (one attempt per operation): the
//! retries themselves are tested in `cluster::tests` with paused time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use charm_core::metadata::ConfigValue;
use charm_core::pebble::fake::ContainerState;
use charm_core::testing::{Context, State, TestError};
use charm_core::{Event, Metadata, Status};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;
use crate::cluster::Cluster;
use crate::cluster::mock::{self, CRB, DEPLOY, Exchange, NS, SA};
use crate::connection::ConnectError;
use crate::image::Image;
use crate::objects;
use crate::retry::RetryPolicy;

/// The model name charm-core's harness gives (`JUJU_MODEL_NAME`): the model's namespace.
const MODEL: &str = "test-model";
const POD: &str = "/api/v1/namespaces/test-model/pods/cloudcasa-0";
const IMAGE: &str = "docker.io/catalogicsoftware/amds-kagent:3.1.0";
const SET_ID: &str =
    "set clusterid: juju config cloudcasa clusterid=<id from the CloudCasa console>";
const TRUST: &str = "missing permissions: run juju trust cloudcasa --scope=cluster";

thread_local! {
    static API_SERVER: RefCell<Option<mock::Service>> = const { RefCell::new(None) };
}

/// Connects to the API server the running test serves.
#[derive(Debug, Default)]
struct Scripted;

impl Connect for Scripted {
    async fn connect(&self) -> Result<Cluster, ConnectError> {
        let service = API_SERVER
            .with(|server| server.borrow_mut().take())
            .expect("the charm connects at most once per hook, and only while a test serves");
        Ok(
            Cluster::new(kube::Client::new(service, "default")).with_retry(RetryPolicy {
                first_delay: Duration::from_secs(60),
                max_delay: Duration::from_secs(60),
                budget: Duration::from_secs(60),
            }),
        )
    }
}

/// A cluster the charm cannot find credentials for.
#[derive(Debug, Default)]
struct NoCredentials;

impl Connect for NoCredentials {
    async fn connect(&self) -> Result<Cluster, ConnectError> {
        Err(ConnectError::Client(kube::Error::Service(
            "no certificate authority".into(),
        )))
    }
}

fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(include_str!("../../charmcraft.yaml"))
        .expect("charmcraft.yaml is valid")
}

fn leader() -> Context<CloudCasa<Scripted>> {
    Context::new(meta())
}

fn follower() -> Context<CloudCasa<Scripted>> {
    Context::new(meta()).unit("cloudcasa/1")
}

/// Runs `event` against `state` while `script` is served, and checks the hook made exactly the
/// scripted requests.
fn run(
    ctx: &Context<CloudCasa<Scripted>>,
    event: Event,
    state: State,
    script: Vec<Exchange>,
) -> Result<State, TestError> {
    let (service, verifier) = mock::service_pair();
    API_SERVER.with(|server| *server.borrow_mut() = Some(service));
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the API server");
        runtime.block_on(async move { verifier.run(script).await })
    });
    let out = ctx.run(event, state);
    // A hook that never connected leaves the service here; the server waits for it to go.
    API_SERVER.with(|server| server.borrow_mut().take());
    let served = match server.join() {
        Ok(Ok(())) => return out,
        Ok(Err(e)) if e.is_panic() => e.into_panic(),
        Ok(Err(e)) => Box::new(format!("API server task: {e}")),
        Err(panic) => panic,
    };
    // The server's complaint says what the charm did wrong; the hook's result says why.
    eprintln!("the hook's result: {out:#?}");
    std::panic::resume_unwind(served)
}

/// The `cloudcasa-image` resource as `resource-get` leaves it, in a directory kept for the test.
struct Resource {
    _dir: TempDir,
    path: PathBuf,
}

fn resource(content: &str) -> Resource {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("content");
    std::fs::write(&path, content).unwrap();
    Resource { _dir: dir, path }
}

fn image_resource() -> Resource {
    resource(&format!(
        "registrypath: {IMAGE}\nusername: ''\npassword: ''\n"
    ))
}

/// Juju's state: leadership, `clusterid` (if set), and the resource (if attached).
fn state(leader: bool, cluster_id: Option<&str>, resource: Option<&Resource>) -> State {
    let mut config = BTreeMap::new();
    if let Some(id) = cluster_id {
        config.insert(CLUSTER_ID_OPTION.to_owned(), ConfigValue::String(id.into()));
    }
    let mut resources = BTreeMap::new();
    if let Some(resource) = resource {
        resources.insert("cloudcasa-image".to_owned(), resource.path.clone());
    }
    State {
        leader,
        config,
        resources,
        ..State::default()
    }
}

fn owner() -> Owner {
    Owner::new(MODEL, "cloudcasa").unwrap()
}

fn spec(cluster_id: &str, image: &str) -> AgentSpec {
    AgentSpec {
        cluster_id: ClusterId::parse(cluster_id).unwrap(),
        image: Image::parse(image).unwrap(),
        owner: owner(),
    }
}

fn json_of(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap()
}

fn namespace_ours() -> Exchange {
    Exchange::get(NS).ok(mock::stored(&objects::namespace(&owner())))
}

fn namespace_absent() -> Exchange {
    Exchange::get(NS).fails(404, "NotFound", "namespaces \"cloudcasa-io\" not found")
}

/// Namespace, service account and binding applied, as the API server echoes them.
fn helpers_applied() -> Vec<Exchange> {
    vec![
        Exchange::apply(NS, json_of(&objects::namespace(&owner()))).echo(),
        Exchange::apply(SA, json_of(&objects::service_account(&owner()))).echo(),
        Exchange::apply(CRB, json_of(&objects::cluster_role_binding(&owner()))).echo(),
    ]
}

fn apply_deployment(spec: &AgentSpec, available: i32) -> Exchange {
    let deployment = objects::deployment(spec);
    Exchange::apply(DEPLOY, json_of(&deployment)).ok(mock::rolled_out(&deployment, available))
}

/// Everything applied over an existing namespace; the agent has `available` replicas up.
fn install(spec: &AgentSpec, available: i32) -> Vec<Exchange> {
    let mut script = vec![namespace_ours()];
    script.extend(helpers_applied());
    script.push(apply_deployment(spec, available));
    script
}

fn active() -> Option<Status> {
    Some(Status::active(""))
}

fn blocked(message: &str) -> Option<Status> {
    Some(Status::blocked(message))
}

fn waiting(message: &str) -> Option<Status> {
    Some(Status::waiting(message))
}

fn ran(out: &State, command: &str) -> bool {
    out.tool_calls.iter().any(|call| call == command)
}

#[test]
fn every_reconciling_event_applies_everything_and_reports_active() {
    let image = image_resource();
    for event in [
        Event::Install,
        Event::ConfigChanged,
        Event::UpgradeCharm,
        Event::PebbleReady {
            container: "cloudcasa".into(),
        },
        Event::UpdateStatus,
        Event::LeaderElected,
        Event::Start,
    ] {
        let name = event.to_string();
        // The workload container's Pebble is up (pebble-ready needs it; the charm uses none).
        let state = State {
            containers: BTreeMap::from([("cloudcasa".to_owned(), ContainerState::new())]),
            ..state(true, Some("abc123"), Some(&image))
        };
        let out = run(&leader(), event, state, install(&spec("abc123", IMAGE), 1))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.unit_status, active(), "{name}");
        assert!(ran(&out, "resource-get cloudcasa-image"), "{name}");
    }
}

#[test]
fn clusterid_unset_applies_all_but_the_agent_and_blocks() {
    let mut script = vec![namespace_absent()];
    script.extend(helpers_applied());
    let out = run(
        &leader(),
        Event::Install,
        state(true, None, Some(&image_resource())),
        script,
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(SET_ID));
    // No image is needed until there is an agent to run.
    assert!(!ran(&out, "resource-get cloudcasa-image"));

    let mut script = vec![namespace_ours()];
    script.extend(helpers_applied());
    let out = run(
        &leader(),
        Event::ConfigChanged,
        state(true, Some("  "), Some(&image_resource())),
        script,
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(SET_ID));
}

#[test]
fn invalid_clusterid_blocks_naming_the_problem() {
    for (value, message) in [
        (
            "abc-123",
            r#"clusterid "abc-123" contains '-' at position 4: only letters and digits are allowed"#,
        ),
        (
            &"a".repeat(129),
            "clusterid is 129 characters long, at most 128 are allowed",
        ),
    ] {
        let mut script = vec![namespace_ours()];
        script.extend(helpers_applied());
        let out = run(
            &leader(),
            Event::ConfigChanged,
            state(true, Some(value), Some(&image_resource())),
            script,
        )
        .unwrap();
        assert_eq!(out.unit_status, blocked(message));
    }
}

#[test]
fn setting_clusterid_rolls_the_agent_out_then_reports_active() {
    let image = image_resource();
    let out = run(
        &leader(),
        Event::ConfigChanged,
        state(true, Some("abc123"), Some(&image)),
        install(&spec("abc123", IMAGE), 0),
    )
    .unwrap();
    assert_eq!(
        out.unit_status,
        waiting("waiting for deployment cloudcasa-kubeagent-manager: 0/1 replicas available")
    );
    // update-status re-applies and sees the agent up.
    let out = run(
        &leader(),
        Event::UpdateStatus,
        out,
        install(&spec("abc123", IMAGE), 1),
    )
    .unwrap();
    assert_eq!(out.unit_status, active());
    // Nothing changed: the status is not set again.
    let out = run(
        &leader(),
        Event::UpdateStatus,
        out,
        install(&spec("abc123", IMAGE), 1),
    )
    .unwrap();
    assert_eq!(out.unit_status, active());
    assert!(!out.tool_calls.iter().any(|c| c.starts_with("status-set")));
}

#[test]
fn non_leaders_only_read_the_deployment() {
    let deployment = objects::deployment(&spec("abc123", IMAGE));
    let cases = [
        (
            Exchange::get(DEPLOY).ok(mock::rolled_out(&deployment, 1)),
            active(),
        ),
        (
            Exchange::get(DEPLOY).ok(mock::rolled_out(&deployment, 0)),
            waiting("waiting for deployment cloudcasa-kubeagent-manager: 0/1 replicas available"),
        ),
        (
            Exchange::get(DEPLOY).fails(404, "NotFound", "not found"),
            waiting("waiting for the leader to create deployment cloudcasa-kubeagent-manager"),
        ),
        (
            Exchange::get(DEPLOY).fails(403, "Forbidden", "deployments is forbidden"),
            blocked(TRUST),
        ),
    ];
    for (answer, expected) in cases {
        for event in [
            Event::ConfigChanged,
            Event::UpdateStatus,
            Event::UpgradeCharm,
        ] {
            let out = run(
                &follower(),
                event,
                state(false, Some("abc123"), Some(&image_resource())),
                vec![answer.clone()],
            )
            .unwrap();
            assert_eq!(out.unit_status, expected);
            assert!(!ran(&out, "resource-get cloudcasa-image"));
        }
    }
    // A follower says what the operator must do too.
    let out = run(
        &follower(),
        Event::ConfigChanged,
        state(false, None, None),
        vec![Exchange::get(DEPLOY).fails(404, "NotFound", "not found")],
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(SET_ID));
}

#[test]
fn missing_permissions_block_without_failing_the_hook() {
    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), Some(&image_resource())),
        vec![Exchange::get(NS).fails(403, "Forbidden", "namespaces is forbidden")],
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(TRUST));

    // Trust granted part way: the binding is refused.
    let mut script = vec![namespace_ours()];
    script.extend(helpers_applied().into_iter().take(2));
    script.push(
        Exchange::apply(CRB, json_of(&objects::cluster_role_binding(&owner()))).fails(
            403,
            "Forbidden",
            "clusterrolebindings is forbidden",
        ),
    );
    let out = run(
        &leader(),
        Event::ConfigChanged,
        state(true, None, None),
        script,
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(TRUST));
}

/// Everything applied but the agent, whose apply the API server answers with an error.
fn agent_refused(code: u16, reason: &str, message: &str) -> Vec<Exchange> {
    let deployment = objects::deployment(&spec("abc123", IMAGE));
    let mut script = vec![namespace_ours()];
    script.extend(helpers_applied());
    script.push(Exchange::apply(DEPLOY, json_of(&deployment)).fails(code, reason, message));
    script
}

#[test]
fn api_trouble_after_retrying_is_a_status_not_a_hook_error() {
    let out = run(
        &leader(),
        Event::ConfigChanged,
        state(true, Some("abc123"), Some(&image_resource())),
        agent_refused(503, "ServiceUnavailable", "etcd is down"),
    )
    .unwrap();
    let Some(Status::Waiting(message)) = &out.unit_status else {
        panic!("{:?}", out.unit_status);
    };
    assert!(
        message.starts_with(
            "kubernetes API unavailable: apply Deployment cloudcasa-io/cloudcasa-kubeagent-manager: \
             503 ServiceUnavailable: etcd is down (gave up after 1 attempts"
        ),
        "{message}"
    );
    assert!(
        out.log_messages()
            .iter()
            .any(|line| line.contains("etcd is down")),
        "{:?}",
        out.logs
    );

    // Rejected for good (an admission webhook): Blocked, saying why.
    let out = run(
        &leader(),
        Event::UpdateStatus,
        state(true, Some("abc123"), Some(&image_resource())),
        agent_refused(422, "Invalid", "denied by policy"),
    )
    .unwrap();
    assert_eq!(
        out.unit_status,
        blocked(
            "kubernetes API error: apply Deployment cloudcasa-io/cloudcasa-kubeagent-manager: \
             422 Invalid: denied by policy"
        )
    );
}

#[test]
fn objects_of_another_application_are_left_alone() {
    let other = Owner::new("prod", "cloudcasa").unwrap();
    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), Some(&image_resource())),
        vec![Exchange::get(NS).ok(mock::stored(&objects::namespace(&other)))],
    )
    .unwrap();
    assert_eq!(
        out.unit_status,
        blocked(
            "namespace cloudcasa-io belongs to application cloudcasa in model prod: one CloudCasa agent per cluster"
        )
    );
}

fn charm_pod(image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cloudcasa-0", "namespace": MODEL},
        "spec": {"containers": [
            {"name": "charm", "image": "jujusolutions/charm-base:ubuntu-22.04"},
            {"name": "cloudcasa", "image": image},
        ]},
    })
}

#[test]
fn without_resource_get_the_image_comes_from_the_charms_pod() {
    let pod_image = "registry.local:5000/amds-kagent@sha256:0123";
    let mut script = vec![Exchange::get(POD).ok(charm_pod(pod_image))];
    script.extend(install(&spec("abc123", pod_image), 1));
    let out = run(
        &leader(),
        Event::UpgradeCharm,
        state(true, Some("abc123"), None),
        script,
    )
    .unwrap();
    assert_eq!(out.unit_status, active());
    assert!(ran(&out, "resource-get cloudcasa-image"));

    // An empty resource file: Juju has no image for it.
    let empty = resource("");
    let mut script = vec![Exchange::get(POD).ok(charm_pod(pod_image))];
    script.extend(install(&spec("abc123", pod_image), 1));
    let out = run(
        &leader(),
        Event::ConfigChanged,
        state(true, Some("abc123"), Some(&empty)),
        script,
    )
    .unwrap();
    assert_eq!(out.unit_status, active());
}

#[test]
fn no_image_anywhere_applies_nothing_and_says_why() {
    let pod_without_workload = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cloudcasa-0"},
        "spec": {"containers": [{"name": "charm", "image": "x"}]},
    });
    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), None),
        vec![Exchange::get(POD).ok(pod_without_workload)],
    )
    .unwrap();
    let Some(Status::Blocked(message)) = &out.unit_status else {
        panic!("{:?}", out.unit_status);
    };
    assert!(
        message.starts_with(
            "cannot tell which image the agent should run: resource-get cloudcasa-image: "
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "reading the charm's pod: finding the agent image: pod cloudcasa-0 has no container \
             \"cloudcasa\": attach one with juju attach-resource cloudcasa cloudcasa-image=<image>"
        ),
        "{message}"
    );

    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), None),
        vec![Exchange::get(POD).fails(403, "Forbidden", "pods is forbidden")],
    )
    .unwrap();
    assert_eq!(out.unit_status, blocked(TRUST));

    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), None),
        vec![Exchange::get(POD).fails(500, "InternalError", "boom")],
    )
    .unwrap();
    assert!(
        matches!(&out.unit_status, Some(Status::Waiting(m)) if m.contains("500 InternalError: boom")),
        "{:?}",
        out.unit_status
    );
}

#[test]
fn registry_credentials_are_warned_about_never_logged() {
    let charmhub = "registry.jujucharms.com/charm/kd9c/cloudcasa-image@sha256:0123";
    let with_credentials = resource(&format!(
        "registrypath: {charmhub}\nusername: docker-registry\npassword: s3cret-token\n"
    ));
    let out = run(
        &leader(),
        Event::Install,
        state(true, Some("abc123"), Some(&with_credentials)),
        install(&spec("abc123", charmhub), 1),
    )
    .unwrap();
    assert_eq!(out.unit_status, active());
    let logs = out.log_messages().join("\n");
    assert!(logs.contains("wants credentials"), "{logs}");
    assert!(!logs.contains("s3cret-token"), "{logs}");
}

#[test]
fn no_kubernetes_credentials_block() {
    let ctx = Context::<CloudCasa<NoCredentials>>::new(meta());
    let out = ctx
        .run(Event::Install, state(true, Some("abc123"), None))
        .unwrap();
    assert_eq!(
        out.unit_status,
        blocked(
            "cannot reach Kubernetes: cannot build a Kubernetes client: ServiceError: no certificate authority"
        )
    );
}

#[test]
fn stop_changes_nothing() {
    let before = State {
        unit_status: active(),
        ..state(true, Some("abc123"), Some(&image_resource()))
    };
    let out = run(&leader(), Event::Stop, before, vec![]).unwrap();
    assert_eq!(out.unit_status, active());
    assert_eq!(out.tool_calls, Vec::<String>::new());
}

#[test]
fn remove_on_scale_down_leaves_the_agent() {
    for (ctx, leader) in [(leader(), true), (follower(), false)] {
        let out = run(
            &ctx,
            Event::Remove,
            State {
                planned_units: Some(1),
                ..state(leader, Some("abc123"), None)
            },
            vec![],
        )
        .unwrap();
        assert_eq!(out.tool_calls, ["goal-state --format=json"]);
    }
}

fn removing() -> State {
    State {
        planned_units: Some(0),
        ..state(true, Some("abc123"), None)
    }
}

#[test]
fn remove_with_the_application_deletes_binding_and_namespace_idempotently() {
    let script = vec![
        namespace_ours(),
        Exchange::delete(CRB)
            .ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        Exchange::delete(NS).ok(mock::terminating(&objects::namespace(&owner()))),
    ];
    let out = run(&leader(), Event::Remove, removing(), script).unwrap();
    assert!(
        out.log_messages()
            .iter()
            .any(|l| l.starts_with("removed the CloudCasa agent")),
        "{:?}",
        out.logs
    );
    // Another unit of the same application, while the namespace is going.
    let script = vec![
        Exchange::get(NS).ok(mock::terminating(&objects::namespace(&owner()))),
        Exchange::delete(CRB).fails(404, "NotFound", "gone"),
    ];
    let out = State {
        leader: false,
        ..removing()
    };
    run(&follower(), Event::Remove, out, script).unwrap();
    // And once everything is gone.
    let script = vec![
        namespace_absent(),
        Exchange::delete(CRB).fails(404, "NotFound", "gone"),
    ];
    run(&leader(), Event::Remove, removing(), script).unwrap();
}

#[test]
fn remove_fails_the_hook_while_the_binding_cannot_be_deleted() {
    let script = vec![
        namespace_ours(),
        Exchange::delete(CRB).fails(403, "Forbidden", "cannot delete clusterrolebindings"),
    ];
    let Err(TestError::HookFailed { error, .. }) =
        run(&leader(), Event::Remove, removing(), script)
    else {
        panic!("remove succeeded without deleting");
    };
    assert!(
        error.contains(
            "delete ClusterRoleBinding cloudcasa-io forbidden: cannot delete clusterrolebindings: \
             run juju trust cloudcasa --scope=cluster and resolve this unit"
        ),
        "{error}"
    );

    let script = vec![Exchange::get(NS).fails(503, "ServiceUnavailable", "down")];
    let Err(TestError::HookFailed { error, .. }) =
        run(&leader(), Event::Remove, removing(), script)
    else {
        panic!("remove succeeded without deleting");
    };
    assert!(
        error.contains("get Namespace cloudcasa-io: 503 ServiceUnavailable: down"),
        "{error}"
    );
}

mod protection;
