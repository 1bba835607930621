//! State-transition tests of the Pebble example charm, run by `cargo test -p charm-core`: each
//! declared container is served by a fake Pebble on a real unix socket and read back after
//! the hook.

use std::collections::BTreeMap;

use charm_core::pebble::fake::ContainerState;
use charm_core::pebble::{NoticeType, ServiceStatus};
use charm_core::testing::{Context, State};
use charm_core::{Event, Metadata, Status};

use super::charm::{CONTAINER, GREETING_FILE, Greeter, RELOAD_NOTICE, SERVICE, layer};

fn ctx() -> Context<Greeter> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pebble-charm");
    Context::new(Metadata::from_charm_dir(&dir).expect("example metadata"))
}

fn state(container: ContainerState) -> State {
    State {
        containers: [(CONTAINER.to_string(), container)].into(),
        ..State::default()
    }
}

fn pebble_ready() -> Event {
    Event::PebbleReady {
        container: CONTAINER.into(),
    }
}

/// Kind and task kinds of every change Pebble recorded during the hook.
fn changes(out: &State) -> Vec<(String, Vec<String>)> {
    out.containers[CONTAINER]
        .changes
        .iter()
        .map(|c| {
            (
                c.kind.clone(),
                c.tasks.iter().map(|t| t.kind.clone()).collect(),
            )
        })
        .collect()
}

fn change(kind: &str, tasks: &[&str]) -> (String, Vec<String>) {
    (
        kind.to_string(),
        tasks.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn pebble_ready_adds_the_layer_and_starts_the_server() {
    let out = ctx()
        .run(pebble_ready(), state(ContainerState::new()))
        .unwrap();

    let web = &out.containers[CONTAINER];
    let plan = web.plan().unwrap();
    assert_eq!(plan.services[SERVICE].environment["GREETING"], "hello");
    assert_eq!(plan.services[SERVICE].environment["PORT"], "8080");
    assert_eq!(web.layers.len(), 1);
    assert_eq!(web.layers[0].0, SERVICE);
    assert_eq!(web.service_statuses[SERVICE], ServiceStatus::Active);
    assert_eq!(changes(&out), [change("replan", &["start"])]);
    assert_eq!(web.files[GREETING_FILE], b"hello");
    assert!(web.dirs.contains("/etc/web"), "{:?}", web.dirs);
    assert_eq!(out.unit_status, Some(Status::active("")));
}

#[test]
fn unchanged_config_restarts_nothing() {
    let ready = ctx()
        .run(pebble_ready(), state(ContainerState::new()))
        .unwrap();

    let out = ctx().run(Event::ConfigChanged, ready.clone()).unwrap();
    let (before, after) = (&ready.containers[CONTAINER], &out.containers[CONTAINER]);
    assert_eq!(after.layers, before.layers);
    assert_eq!(after.plan().unwrap(), before.plan().unwrap());
    assert_eq!(after.service_statuses[SERVICE], ServiceStatus::Active);
    assert_eq!(changes(&out), []);
}

#[test]
fn changed_config_updates_the_environment_and_restarts() {
    let ready = ctx()
        .run(pebble_ready(), state(ContainerState::new()))
        .unwrap();

    let mut next = ready.clone();
    next.config.insert("greeting".into(), "bonjour".into());
    let out = ctx().run(Event::ConfigChanged, next).unwrap();
    let web = &out.containers[CONTAINER];
    let plan = web.plan().unwrap();
    assert_eq!(plan.services[SERVICE].environment["GREETING"], "bonjour");
    // Combined into the charm's own layer, not stacked.
    assert_eq!(web.layers.len(), 1);
    assert_eq!(changes(&out), [change("replan", &["stop", "start"])]);
    assert_eq!(web.service_statuses[SERVICE], ServiceStatus::Active);
    assert_eq!(web.files[GREETING_FILE], b"bonjour");
}

#[test]
fn a_layer_left_by_an_older_revision_is_replaced() {
    let old = layer("hello", 80);
    let container = ContainerState::new()
        .with_layer(SERVICE, old)
        .with_service_status(SERVICE, ServiceStatus::Active);
    let out = ctx().run(Event::UpgradeCharm, state(container)).unwrap();
    let plan = out.containers[CONTAINER].plan().unwrap();
    assert_eq!(plan.services[SERVICE].environment["PORT"], "8080");
    assert_eq!(changes(&out), [change("replan", &["stop", "start"])]);
}

#[test]
fn before_pebble_is_up_the_charm_waits() {
    let out = ctx()
        .run(Event::ConfigChanged, state(ContainerState::unreachable()))
        .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::waiting("waiting for Pebble in the web container"))
    );
    let logged = out.log_messages().join("\n");
    assert!(logged.contains("cannot connect to Pebble at"), "{logged}");
    assert!(logged.contains("web/pebble.socket"), "{logged}");
    // Nothing reached the container.
    assert_eq!(
        out.containers[CONTAINER],
        ContainerState::unreachable(),
        "{:?}",
        out.containers
    );
}

#[test]
fn pebble_ready_is_refused_while_pebble_cannot_connect() {
    let err = ctx()
        .run(pebble_ready(), state(ContainerState::unreachable()))
        .unwrap_err();
    assert!(err.to_string().contains("can_connect = false"), "{err}");
}

#[test]
fn a_reload_notice_restarts_the_server_with_the_reason_from_pebble() {
    let ready = ctx()
        .run(pebble_ready(), state(ContainerState::new()))
        .unwrap();

    let mut next = ready.clone();
    let reason = BTreeMap::from([("reason".to_string(), "certificate renewed".to_string())]);
    let web = next.containers.remove(CONTAINER).unwrap_or_default();
    let web = web.with_notice(NoticeType::Custom, RELOAD_NOTICE, reason);
    next.containers.insert(CONTAINER.into(), web);
    let event = next
        .custom_notice_event(CONTAINER, RELOAD_NOTICE)
        .expect("the notice is declared");

    let out = ctx().run(event, next).unwrap();
    assert_eq!(changes(&out), [change("restart", &["stop", "start"])]);
    let logged = out.log_messages().join("\n");
    assert!(
        logged.contains("Restarting web: certificate renewed"),
        "{logged}"
    );
    assert_eq!(out.unit_status, Some(Status::active("")));
}
