//! State-transition tests: a state in, an event, the state out; no Juju needed
//! (charm-core's `testing` feature). Run them with `cargo test`.

use charm_core::testing::{Context, Relation, State};
use charm_core::{Event, Metadata, Status};

use crate::charm::{{Type}};

fn ctx() -> Context<{{Type}}> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Context::new(Metadata::from_charm_dir(dir).expect("charmcraft.yaml"))
}

fn leader_with(relations: Vec<Relation>) -> State {
    State {
        leader: true,
        relations,
        ..State::default()
    }
}

#[test]
fn an_empty_greeting_blocks_and_says_what_to_do() {
    let state = State {
        config: [("greeting".to_string(), "  ".into())].into(),
        ..State::default()
    };
    let out = ctx().run(Event::ConfigChanged, state).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked(
            "empty greeting: set one with `juju config {{name}} greeting=hello`"
        ))
    );
}

#[test]
fn the_leader_hands_the_greeting_to_every_related_application() {
    let relations = vec![
        Relation::new("greeting", "one"),
        Relation::new("greeting", "two"),
    ];
    let out = ctx()
        .run(Event::ConfigChanged, leader_with(relations))
        .unwrap();
    for relation in &out.relations {
        assert_eq!(relation.local_app_data["greeting"], "hello", "the default");
    }
    assert_eq!(out.unit_status, Some(Status::active("")));
}

#[test]
fn a_unit_that_is_not_leader_writes_no_application_data() {
    let state = State {
        relations: vec![Relation::new("greeting", "one")],
        ..State::default()
    };
    let out = ctx().run(Event::ConfigChanged, state).unwrap();
    assert!(out.relations[0].local_app_data.is_empty());
    assert_eq!(out.unit_status, Some(Status::active("")));
}

#[test]
fn reconciling_again_changes_nothing() {
    let first = ctx()
        .run(
            Event::ConfigChanged,
            leader_with(vec![Relation::new("greeting", "one")]),
        )
        .unwrap()
        .without_outputs();
    let again = ctx().run(Event::UpdateStatus, first.clone()).unwrap();
    assert!(
        !again
            .tool_calls
            .iter()
            .any(|c| c.starts_with("relation-set")),
        "{:#?}",
        again.tool_calls
    );
    assert_eq!(again.without_outputs(), first);
}
