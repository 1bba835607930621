//! The optional `image-backup` relation: the leader asks for the agent's image, every unit's
//! status says how its backup stands, and nothing the provider writes fails a hook. Without the
//! relation the tests of the parent module show the charm unchanged.

use charm_core::contract::BagCodec;
use charm_core::testing::Relation;
use proto::image_backup::v1::{BackedUpImage, ImageBackupProviderData};

use super::*;
use crate::protection::ENDPOINT;

const REGISTRY: &str = "reg.example:5000/backups";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WAITING: &str = "waiting for image-backup";
const PENDING: &str = "image backup to reg.example:5000/backups pending";

fn backed_up() -> String {
    format!("image backed up as {REGISTRY}/{IMAGE}")
}

/// A relation to the image-backup charm, which has answered nothing yet.
fn related() -> Relation {
    Relation::new(ENDPOINT, "image-backup")
}

/// The provider's answer: the registry, and the backups done so far.
fn answered(backups: Vec<BackedUpImage>) -> Relation {
    let bag = ImageBackupProviderData {
        registry: REGISTRY.into(),
        api_address: "http://image-backup.test-model.svc.cluster.local:50051".into(),
        backups,
    }
    .to_bag()
    .unwrap();
    related().remote_app_data(bag)
}

fn backup_of(image: &str) -> BackedUpImage {
    BackedUpImage {
        source: image.into(),
        reference: format!("{REGISTRY}/{image}"),
        digest: DIGEST.into(),
    }
}

/// `event` on the leader with `relation`, `clusterid` and the resource set, the agent up.
fn on_leader(event: Event, relation: Relation) -> State {
    let image = image_resource();
    let state = with_relation(state(true, Some("abc123"), Some(&image)), relation);
    run(&leader(), event, state, install(&spec("abc123", IMAGE), 1))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn with_relation(state: State, relation: Relation) -> State {
    State {
        relations: vec![relation],
        ..state
    }
}

/// What the leader asked for, as the provider reads it.
fn asked(out: &State) -> Option<Vec<String>> {
    let images = out.relation_on(ENDPOINT)?.local_app_data.get("images")?;
    Some(serde_json::from_str(images).expect("images is a JSON list"))
}

fn wrote_relation_data(out: &State) -> bool {
    out.tool_calls.iter().any(|c| c.starts_with("relation-set"))
}

#[test]
fn every_relation_event_reconciles_and_the_leader_asks_for_the_agent_image() {
    type Make = fn(&Relation) -> Event;
    let events: [(&str, Make); 4] = [
        ("created", Relation::created_event),
        ("joined", Relation::joined_event),
        ("changed", Relation::changed_event),
        // A unit that already left the relation.
        ("departed", |r| r.departed_event("image-backup/1")),
    ];
    for (kind, event) in events {
        let relation = related();
        let out = on_leader(event(&relation), relation);
        assert_eq!(asked(&out), Some(vec![IMAGE.to_owned()]), "{kind}");
        assert_eq!(out.unit_status, Some(Status::active(WAITING)), "{kind}");
    }
}

#[test]
fn asking_again_writes_nothing() {
    let image = image_resource();
    let first = run(
        &leader(),
        Event::ConfigChanged,
        with_relation(state(true, Some("abc123"), Some(&image)), related()),
        install(&spec("abc123", IMAGE), 1),
    )
    .unwrap();
    assert!(wrote_relation_data(&first));
    let again = run(
        &leader(),
        Event::UpdateStatus,
        first.without_outputs(),
        install(&spec("abc123", IMAGE), 1),
    )
    .unwrap();
    assert!(!wrote_relation_data(&again), "{:?}", again.tool_calls);
    assert_eq!(asked(&again), Some(vec![IMAGE.to_owned()]));
}

#[test]
fn the_status_follows_the_providers_answer() {
    let image = image_resource();
    let cases = [
        (answered(vec![]), PENDING.to_owned()),
        (
            answered(vec![backup_of("docker.io/library/nginx:1.27")]),
            PENDING.to_owned(),
        ),
        (answered(vec![backup_of(IMAGE)]), backed_up()),
    ];
    for (relation, note) in cases {
        let out = on_leader(relation.changed_event(), relation);
        assert_eq!(out.unit_status, Some(Status::active(&note)));
    }
    // Not yet available: the note follows the waiting message.
    let relation = answered(vec![backup_of(IMAGE)]);
    let out = run(
        &leader(),
        Event::UpdateStatus,
        with_relation(state(true, Some("abc123"), Some(&image)), relation),
        install(&spec("abc123", IMAGE), 0),
    )
    .unwrap();
    assert_eq!(
        out.unit_status,
        waiting(&format!(
            "waiting for deployment cloudcasa-kubeagent-manager: 0/1 replicas available; {}",
            backed_up()
        ))
    );
}

#[test]
fn garbage_from_the_provider_shows_in_the_status_and_fails_no_hook() {
    let bad_entry = format!(r#"[{{"source": "{IMAGE}", "reference": "a b", "digest": "md5:1"}}]"#);
    let garbage = [
        vec![("registry", REGISTRY), ("api-address", "nowhere")],
        vec![
            ("registry", REGISTRY),
            ("api-address", "http://ib:50051"),
            ("backups", "not json"),
        ],
        vec![
            ("registry", REGISTRY),
            ("api-address", "http://ib:50051"),
            ("backups", &bad_entry),
        ],
        vec![("backups", "[]")],
    ];
    for bag in garbage {
        let relation = related().remote_app_data(bag.clone());
        let out = on_leader(relation.changed_event(), relation);
        let Some(Status::Active(message)) = &out.unit_status else {
            panic!("{bag:?}: {:?}", out.unit_status);
        };
        assert!(
            message.starts_with("image-backup relation: invalid data: "),
            "{bag:?}: {message}"
        );
        assert_eq!(asked(&out), Some(vec![IMAGE.to_owned()]), "{bag:?}");
    }
}

#[test]
fn non_leaders_write_nothing_and_report_the_backup_too() {
    let deployment = objects::deployment(&spec("abc123", IMAGE));
    let image = image_resource();
    let out = run(
        &follower(),
        Event::UpdateStatus,
        with_relation(
            state(false, Some("abc123"), Some(&image)),
            answered(vec![backup_of(IMAGE)]),
        ),
        vec![Exchange::get(DEPLOY).ok(mock::rolled_out(&deployment, 1))],
    )
    .unwrap();
    assert_eq!(out.unit_status, Some(Status::active(backed_up())));
    assert!(!wrote_relation_data(&out), "{:?}", out.tool_calls);
    assert_eq!(asked(&out), None);

    // Without the resource a follower cannot tell which image to look for.
    let out = run(
        &follower(),
        Event::UpdateStatus,
        with_relation(state(false, Some("abc123"), None), related()),
        vec![Exchange::get(DEPLOY).ok(mock::rolled_out(&deployment, 1))],
    )
    .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::active("image backup: agent image unknown"))
    );
}

#[test]
fn relation_broken_drops_the_note() {
    let relation = answered(vec![backup_of(IMAGE)])
        .local_app_data([("images", serde_json::to_string(&[IMAGE]).unwrap().as_str())]);
    let out = on_leader(relation.broken_event(), relation);
    assert_eq!(out.unit_status, active());
    assert!(!wrote_relation_data(&out), "{:?}", out.tool_calls);
}

#[test]
fn asking_needs_no_cluster_and_no_clusterid() {
    let image = image_resource();
    let ctx = Context::<CloudCasa<NoCredentials>>::new(meta());
    let relation = related();
    let out = ctx
        .run(
            relation.created_event(),
            with_relation(state(true, Some("abc123"), Some(&image)), relation),
        )
        .unwrap();
    assert_eq!(asked(&out), Some(vec![IMAGE.to_owned()]));
    let Some(Status::Blocked(message)) = &out.unit_status else {
        panic!("{:?}", out.unit_status);
    };
    assert!(
        message.starts_with("cannot reach Kubernetes: ")
            && message.ends_with(&format!("; {WAITING}")),
        "{message}"
    );

    // clusterid unset: the agent is not applied yet, but its image is already asked for.
    let mut script = vec![namespace_ours()];
    script.extend(helpers_applied());
    let out = run(
        &leader(),
        Event::ConfigChanged,
        with_relation(state(true, None, Some(&image)), related()),
        script,
    )
    .unwrap();
    assert_eq!(asked(&out), Some(vec![IMAGE.to_owned()]));
    assert_eq!(out.unit_status, blocked(&format!("{SET_ID}; {WAITING}")));
}

/// An upgrade on the related leader when only the charm's pod names the agent's image.
fn upgrade_with_pod_image(pod_image: &str) -> State {
    let mut script = vec![Exchange::get(POD).ok(charm_pod(pod_image))];
    script.extend(install(&spec("abc123", pod_image), 1));
    run(
        &leader(),
        Event::UpgradeCharm,
        with_relation(state(true, Some("abc123"), None), related()),
        script,
    )
    .unwrap()
}

#[test]
fn an_image_only_the_charms_pod_names_is_asked_for_once_read() {
    let pod_image = "registry.local:5000/amds-kagent:3.1.0";
    let out = upgrade_with_pod_image(pod_image);
    assert_eq!(asked(&out), Some(vec![pod_image.to_owned()]));
    assert_eq!(out.unit_status, Some(Status::active(WAITING)));

    // A reference the agent's pod accepts but the contract does not: nothing asked, and said.
    let out = upgrade_with_pod_image("registry.local:5000/amds-kagent@sha256:0123");
    assert_eq!(asked(&out), None);
    let Some(Status::Active(message)) = &out.unit_status else {
        panic!("{:?}", out.unit_status);
    };
    assert!(
        message.starts_with("image backup not asked: images: "),
        "{message}"
    );
}
