//! The requirer helper, in a small requirer charm, against bags encoded as the provider (the
//! image-backup charm) encodes them.

use charm_core::contract::BagCodec;
use charm_core::testing::{Context, Relation, State};
use charm_core::{Charm, CharmError, Event, Metadata, Model, Status};
use proto::image_backup::requirer::{self, Protection};
use proto::image_backup::v1::{BackedUpImage, ImageBackupProviderData};

const IMAGE: &str = "docker.io/catalogicsoftware/amds-kagent:3.4";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Asks for its one image to be protected and says how it stands, as cloudcasa-charm would.
#[derive(Default)]
struct Agent;

impl Charm for Agent {
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        requirer::request(model, "image-backup", &[IMAGE.to_string()])?;
        let message = match requirer::protection(model, "image-backup", IMAGE)? {
            Protection::NotRelated => "agent running".to_string(),
            other => format!("agent running; {other}"),
        };
        model.add_status(Status::active(message));
        Ok(())
    }
}

fn ctx() -> Context<Agent> {
    agent_with_limit("limit: 1")
}

/// The agent, its endpoint declared with `limit` (a YAML line, possibly empty).
fn agent_with_limit(limit: &str) -> Context<Agent> {
    let meta = Metadata::from_packed(
        &format!(
            "name: agent\nrequires:\n  image-backup:\n    interface: image-backup\n    {limit}\n"
        ),
        None,
        None,
    )
    .unwrap();
    Context::new(meta)
}

fn provider_bag(backups: Vec<BackedUpImage>) -> std::collections::BTreeMap<String, String> {
    ImageBackupProviderData {
        registry: "reg.example:5000/backups".into(),
        api_address: "http://image-backup.m.svc.cluster.local:50051".into(),
        backups,
    }
    .to_bag()
    .unwrap()
}

#[test]
fn without_the_relation_nothing_changes() {
    let out = ctx()
        .run(
            Event::ConfigChanged,
            State {
                leader: true,
                ..State::default()
            },
        )
        .unwrap();
    assert_eq!(out.unit_status, Some(Status::active("agent running")));
}

#[test]
fn the_leader_asks_and_learns_when_the_backup_is_in_place() {
    let relation = Relation::new("image-backup", "image-backup");
    let out = ctx()
        .run(
            relation.changed_event(),
            State {
                leader: true,
                relations: vec![relation.clone()],
                ..State::default()
            },
        )
        .unwrap();
    let images: Vec<String> =
        serde_json::from_str(&out.relations[0].local_app_data["images"]).unwrap();
    assert_eq!(images, [IMAGE]);
    assert_eq!(
        out.unit_status,
        Some(Status::active("agent running; waiting for image-backup"))
    );

    let answered = relation.clone().remote_app_data(provider_bag(vec![]));
    let out = ctx()
        .run(
            answered.changed_event(),
            State {
                leader: true,
                relations: vec![answered],
                ..State::default()
            },
        )
        .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::active(
            "agent running; image backup to reg.example:5000/backups pending"
        ))
    );

    let done = relation.remote_app_data(provider_bag(vec![BackedUpImage {
        source: IMAGE.into(),
        reference: format!("reg.example:5000/backups/{IMAGE}"),
        digest: DIGEST.into(),
    }]));
    let out = ctx()
        .run(
            done.changed_event(),
            State {
                relations: vec![done],
                ..State::default()
            },
        )
        .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::active(format!(
            "agent running; image backed up as reg.example:5000/backups/{IMAGE}"
        )))
    );
    assert!(
        out.relations[0].local_app_data.is_empty(),
        "a non-leader writes nothing"
    );
}

#[test]
fn an_unreadable_provider_bag_is_named() {
    let relation = Relation::new("image-backup", "image-backup")
        .remote_app_data([("registry", "reg.example"), ("api-address", "nowhere")]);
    let out = ctx()
        .run(
            relation.changed_event(),
            State {
                relations: vec![relation],
                ..State::default()
            },
        )
        .unwrap();
    let status = out.unit_status.unwrap();
    assert!(
        status
            .message()
            .contains("image-backup relation: invalid data: api-address"),
        "{status:?}"
    );
}

#[test]
fn with_several_providers_the_most_advanced_answer_wins() {
    let done = Relation::new("image-backup", "image-backup").remote_app_data(provider_bag(vec![
        BackedUpImage {
            source: IMAGE.into(),
            reference: format!("reg.example:5000/backups/{IMAGE}"),
            digest: DIGEST.into(),
        },
    ]));
    let cases = [
        (
            vec![Relation::new("image-backup", "silent"), done.clone()],
            format!("agent running; image backed up as reg.example:5000/backups/{IMAGE}"),
        ),
        (
            vec![
                Relation::new("image-backup", "garbled").remote_app_data([("registry", "")]),
                Relation::new("image-backup", "busy").remote_app_data(provider_bag(vec![])),
            ],
            "agent running; image backup to reg.example:5000/backups pending".to_owned(),
        ),
    ];
    for (relations, message) in cases {
        let out = agent_with_limit("")
            .run(
                Event::UpdateStatus,
                State {
                    leader: true,
                    relations,
                    ..State::default()
                },
            )
            .unwrap();
        assert_eq!(out.unit_status, Some(Status::active(message)));
        for relation in &out.relations {
            assert!(
                relation.local_app_data.contains_key("images"),
                "each is asked"
            );
        }
    }
}
