//! State-transition tests: a state in, an event, the state out; no Juju needed
//! (charm-core's `testing` feature: a fake Pebble serves each container). Run them with
//! `cargo test`.

use charm_core::pebble::ServiceStatus;
use charm_core::pebble::fake::ContainerState;
use charm_core::testing::{Context, State};
use charm_core::{Event, Metadata, Status};

use crate::charm::{CONTAINER, {{Type}}, PAGE, SERVICE};

fn ctx() -> Context<{{Type}}> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Context::new(Metadata::from_charm_dir(dir).expect("charmcraft.yaml"))
}

fn with_workload(container: ContainerState) -> State {
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

#[test]
fn pebble_ready_writes_the_page_and_starts_the_server() {
    let out = ctx()
        .run(pebble_ready(), with_workload(ContainerState::new()))
        .unwrap();
    let workload = &out.containers[CONTAINER];
    assert_eq!(workload.files[PAGE], b"hello");
    assert_eq!(workload.service_statuses[SERVICE], ServiceStatus::Active);
    assert_eq!(out.unit_status, Some(Status::active("")));
}

#[test]
fn before_pebble_answers_the_charm_waits() {
    let out = ctx()
        .run(
            Event::ConfigChanged,
            with_workload(ContainerState::unreachable()),
        )
        .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::waiting(
            "waiting for Pebble in the workload container"
        ))
    );
}

#[test]
fn an_empty_greeting_blocks_and_says_what_to_do() {
    let mut state = with_workload(ContainerState::new());
    state.config.insert("greeting".into(), "".into());
    let out = ctx().run(Event::ConfigChanged, state).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(
            "empty greeting: set one with `juju config {{name}} greeting=hello`"
        ))
    );
}

#[test]
fn reconciling_again_restarts_nothing() {
    let ready = ctx()
        .run(pebble_ready(), with_workload(ContainerState::new()))
        .unwrap()
        .without_outputs();
    let again = ctx().run(Event::UpdateStatus, ready.clone()).unwrap();
    assert!(again.containers[CONTAINER].changes.is_empty(), "no replan");
    assert_eq!(again.without_outputs(), ready);
}
