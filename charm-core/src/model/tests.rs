//! Model behaviour through the testing harness: the same flow as production over the
//! in-memory backend, asserting both the resulting state and the exact tool calls.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::json;

use crate::charm::{Charm, CharmError};
use crate::event::{Event, RelationEvent, RelationId};
use crate::metadata::Metadata;
use crate::model::{Bag, Model, ModelError};
use crate::network::Port;
use crate::secret::{SecretGet, SecretOwner, SecretSpec};
use crate::status::Status;
use crate::testing::{Context, Relation, Secret, State, TestError};

type Script = Box<dyn Fn(&Event, &Model) -> Result<(), CharmError>>;

thread_local! {
    static SCRIPT: RefCell<Option<Script>> = const { RefCell::new(None) };
}

/// A charm whose handler is the closure installed by [`run`].
#[derive(Default)]
struct Scripted;

impl Charm for Scripted {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        SCRIPT.with(|s| match s.borrow().as_ref() {
            Some(f) => f(event, model),
            None => Ok(()),
        })
    }
}

const META: &str = r#"
name: demo
requires:
  backup:
    interface: backup
    limit: 1
  db: pgsql
peers:
  cluster: demo-peers
extra-bindings:
  metrics:
resources:
  tool: {type: file, filename: tool.tgz}
storage:
  data: {type: filesystem, location: /srv}
containers:
  workload: {}
"#;

const CONFIG: &str = r#"
options:
  fileset: {type: string}
  port: {type: int, default: 8080}
"#;

const ACTIONS: &str = r#"
backup-now:
  params:
    target: {type: string}
    retries: {type: integer, default: 3}
  required: [target]
  additionalProperties: false
"#;

fn meta() -> Metadata {
    Metadata::from_packed(META, Some(CONFIG), Some(ACTIONS)).unwrap()
}

fn run(
    event: Event,
    state: State,
    f: impl Fn(&Event, &Model) -> Result<(), CharmError> + 'static,
) -> Result<State, TestError> {
    SCRIPT.with(|s| *s.borrow_mut() = Some(Box::new(f)));
    let out = Context::<Scripted>::new(meta()).run(event, state);
    SCRIPT.with(|s| *s.borrow_mut() = None);
    out
}

fn changed(rel: &Relation) -> Event {
    Event::RelationChanged(RelationEvent {
        endpoint: rel.endpoint.clone(),
        id: rel.id,
        remote_app: rel.remote_app.clone(),
        remote_unit: rel.first_unit().map(String::from),
        departing_unit: None,
    })
}

fn failure(result: Result<State, TestError>) -> String {
    match result {
        Err(TestError::HookFailed { error, .. }) => error,
        other => panic!("expected the hook to fail, got {other:?}"),
    }
}

#[test]
fn leader_writes_app_bag_with_one_relation_set() {
    let rel = Relation::new("backup", "bacula-fd").local_app_data([("old", "x")]);
    let state = State {
        leader: true,
        relations: vec![rel.clone()],
        ..Default::default()
    };
    let out = run(Event::ConfigChanged, state, |_, m| {
        let rel = m.relation("backup")?.expect("relation");
        rel.set(&Bag::LocalApp, "fileset", "/etc,/srv")?;
        rel.set(&Bag::LocalApp, "old", "")?; // empty deletes
        rel.update(&Bag::LocalApp, [("run-before-backup", "/opt/x")])?;
        assert_eq!(
            rel.local_app_data()?.get("fileset").map(String::as_str),
            Some("/etc,/srv"),
            "reads see buffered writes"
        );
        Ok(())
    })
    .unwrap();
    let data = &out.relation(rel.id).unwrap().local_app_data;
    assert_eq!(
        data,
        &BTreeMap::from([
            ("fileset".to_string(), "/etc,/srv".to_string()),
            ("run-before-backup".to_string(), "/opt/x".to_string()),
        ])
    );
    let sets: Vec<_> = out
        .tool_calls
        .iter()
        .filter(|c| c.starts_with("relation-set"))
        .collect();
    assert_eq!(
        sets,
        vec![&format!("relation-set -r backup:{} --app --file -", rel.id)]
    );
}

#[test]
fn non_leader_cannot_write_or_read_its_app_bag() {
    let rel = Relation::new("backup", "bacula-fd");
    let state = State {
        relations: vec![rel.clone()],
        ..Default::default()
    };
    let err = failure(run(Event::ConfigChanged, state.clone(), |_, m| {
        m.relation("backup")?
            .expect("rel")
            .set(&Bag::LocalApp, "k", "v")?;
        Ok(())
    }));
    assert!(
        err.contains("only the leader can write the application data bag"),
        "{err}"
    );

    let err = failure(run(Event::ConfigChanged, state.clone(), |_, m| {
        m.relation("backup")?.expect("rel").local_app_data()?;
        Ok(())
    }));
    assert!(err.contains("only the leader can read"), "{err}");

    // The refusal is local: no relation-get or relation-set was attempted.
    let out = run(Event::ConfigChanged, state, |_, m| {
        let rel = m.relation("backup")?.expect("rel");
        assert!(matches!(
            rel.local_app_data(),
            Err(ModelError::PermissionDenied(_))
        ));
        assert!(matches!(
            rel.set(&Bag::LocalApp, "k", "v"),
            Err(ModelError::NotLeader(_))
        ));
        Ok(())
    })
    .unwrap();
    assert!(
        !out.tool_calls
            .iter()
            .any(|c| c.starts_with("relation-get") || c.starts_with("relation-set")),
        "{:?}",
        out.tool_calls
    );
}

#[test]
fn peers_share_the_app_bag_for_reading_only() {
    let rel = Relation::new("cluster", "demo")
        .no_units()
        .unit("demo/1", [("addr", "10.0.0.2")])
        .local_app_data([("token", "t")]);
    let state = State {
        relations: vec![rel.clone()],
        ..Default::default()
    };
    let out = run(Event::ConfigChanged, state.clone(), |_, m| {
        let rel = m.relation("cluster")?.expect("peer");
        assert!(rel.is_peer());
        assert_eq!(rel.local_app_data()?["token"], "t");
        assert_eq!(rel.units()?, vec!["demo/1".to_string()]);
        assert_eq!(rel.unit_data("demo/1")?["addr"], "10.0.0.2");
        assert_eq!(rel.remote_app()?.as_deref(), Some("demo"));
        rel.set(&Bag::LocalUnit, "addr", "10.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        out.relation(rel.id).unwrap().local_unit_data["addr"],
        "10.0.0.1"
    );
    let err = failure(run(Event::ConfigChanged, state, |_, m| {
        m.relation("cluster")?
            .expect("peer")
            .set(&Bag::LocalApp, "token", "u")?;
        Ok(())
    }));
    assert!(err.contains("only the leader"), "{err}");
}

#[test]
fn nobody_writes_remote_bags() {
    let rel = Relation::new("db", "postgresql").remote_app_data([("host", "pg")]);
    let state = State {
        leader: true,
        relations: vec![rel.clone()],
        ..Default::default()
    };
    for bag in [Bag::RemoteApp, Bag::Unit("postgresql/0".into())] {
        let err = failure(run(Event::ConfigChanged, state.clone(), move |_, m| {
            m.relation("db")?.expect("db").set(&bag, "k", "v")?;
            Ok(())
        }));
        assert!(err.contains("a unit writes only its own bag"), "{err}");
    }
    // Writing one's own unit bag by name is the local unit bag.
    let out = run(Event::ConfigChanged, state, |_, m| {
        let rel = m.relation("db")?.expect("db");
        rel.set(&Bag::Unit("demo/0".into()), "k", "v")?;
        assert_eq!(rel.remote_app_data()?["host"], "pg");
        assert!(matches!(
            rel.set(&Bag::LocalUnit, "", "v"),
            Err(ModelError::InvalidData(_))
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(out.relation(rel.id).unwrap().local_unit_data["k"], "v");
}

#[test]
fn each_piece_of_data_is_fetched_once_and_unchanged_writes_are_skipped() {
    let rel = Relation::new("backup", "bacula-fd").local_app_data([("fileset", "/etc")]);
    let id = rel.id;
    let state = State {
        leader: true,
        config: BTreeMap::from([("fileset".to_string(), "/etc".into())]),
        relations: vec![rel],
        ..Default::default()
    };
    let out = run(Event::ConfigChanged, state, |_, m| {
        for _ in 0..3 {
            let fileset: String = m.config()?.get("fileset")?;
            assert!(m.is_leader()?);
            let rel = m.relation("backup")?.expect("rel");
            let current = rel.local_app_data()?;
            rel.set(&Bag::LocalApp, "fileset", fileset.clone())?;
            assert_eq!(current["fileset"], fileset);
            rel.units()?;
            rel.remote_app()?;
        }
        m.add_status(Status::active(""));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        out.tool_calls,
        vec![
            "config-get --format=json".to_string(),
            "is-leader --format=json".to_string(),
            "relation-ids backup --format=json".to_string(),
            format!("relation-get --format=json -r backup:{id} --app - demo"),
            format!("relation-list --format=json -r backup:{id}"),
            format!("relation-list --format=json -r backup:{id} --app"),
            "status-set --application=False active -- ".to_string(),
        ],
        "the unchanged fileset write made no relation-set"
    );
}

#[test]
fn highest_priority_status_is_set_once_and_not_repeated() {
    let out = run(Event::UpdateStatus, State::default(), |_, m| {
        m.add_status(Status::active("ready"));
        m.add_status(Status::waiting("for db"));
        m.add_status(Status::blocked("missing fileset config"));
        m.add_status(Status::maintenance("installing"));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked("missing fileset config"))
    );
    let sets: Vec<_> = out
        .tool_calls
        .iter()
        .filter(|c| c.starts_with("status-set"))
        .collect();
    assert_eq!(
        sets,
        vec!["status-set --application=False blocked -- missing fileset config"]
    );
    // Same status next hook: no status-set at all.
    let out = run(Event::UpdateStatus, out, |_, m| {
        m.add_status(Status::blocked("missing fileset config"));
        Ok(())
    })
    .unwrap();
    assert!(out.tool_calls.is_empty(), "{:?}", out.tool_calls);
    // No status reported: Juju's status is left alone.
    let out = run(Event::UpdateStatus, out, |_, _| Ok(())).unwrap();
    assert_eq!(
        out.unit_status,
        Some(Status::blocked("missing fileset config"))
    );
}

#[test]
fn app_status_is_for_the_leader() {
    let out = run(
        Event::LeaderElected,
        State {
            leader: true,
            ..Default::default()
        },
        |_, m| {
            m.add_app_status(Status::waiting("for units"))?;
            m.add_app_status(Status::active(""))?;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(out.app_status, Some(Status::waiting("for units")));
    assert!(
        out.tool_calls
            .contains(&"status-set --application=True waiting -- for units".to_string())
    );
    let err = failure(run(Event::UpdateStatus, State::default(), |_, m| {
        m.add_app_status(Status::active(""))?;
        Ok(())
    }));
    assert!(
        err.contains("only the leader can set the application status"),
        "{err}"
    );
}

#[test]
fn a_failing_hook_commits_nothing() {
    let rel = Relation::new("backup", "bacula-fd");
    let state = State {
        leader: true,
        relations: vec![rel],
        unit_status: Some(Status::active("")),
        ..Default::default()
    };
    let result = run(Event::ConfigChanged, state, |_, m| {
        m.relation("backup")?
            .expect("rel")
            .set(&Bag::LocalApp, "fileset", "/x")?;
        m.add_status(Status::blocked("should not be set"));
        m.set_workload_version("1.0");
        m.store("k", &1)?;
        Err("the workload is on fire".into())
    });
    match result {
        Err(TestError::HookFailed { error, logs }) => {
            assert!(
                error.contains("config_changed: the workload is on fire"),
                "{error}"
            );
            assert!(
                logs.iter().any(|l| l.level == crate::log::LogLevel::Error
                    && l.message.contains("Uncaught error while in charm code")),
                "{logs:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_is_typed_with_defaults() {
    let state = State {
        config: BTreeMap::from([("fileset".to_string(), "/etc".into())]),
        ..Default::default()
    };
    run(Event::ConfigChanged, state, |_, m| {
        let c = m.config()?;
        assert_eq!(c.get::<u16>("port")?, 8080);
        assert_eq!(c.string("fileset")?.as_deref(), Some("/etc"));
        let err = c.get::<bool>("port").unwrap_err();
        assert!(err.to_string().contains("`port` is int"), "{err}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn deferral_follows_ops() {
    // First hook: defer config-changed.
    let out = run(Event::ConfigChanged, State::default(), |_, m| {
        m.defer()?;
        Ok(())
    })
    .unwrap();
    assert_eq!(out.deferred, vec![Event::ConfigChanged]);
    assert!(out.log_messages().contains(&"Deferring config_changed."));

    // Next hook: config-changed is re-run first, deferred again, then update-status runs;
    // a second identical deferral is not queued twice.
    let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let out = run(Event::UpdateStatus, out, move |e, m| {
        s.borrow_mut().push(e.clone());
        if *e == Event::ConfigChanged {
            m.defer()?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![Event::ConfigChanged, Event::UpdateStatus]
    );
    assert_eq!(out.deferred, vec![Event::ConfigChanged]);
    let logs = out.log_messages();
    assert!(
        logs.contains(&"Re-emitting deferred event config_changed (1 of 1 in queue)."),
        "{logs:?}"
    );
    let out = run(Event::ConfigChanged, out, |_, m| {
        m.defer()?;
        Ok(())
    })
    .unwrap();
    assert_eq!(out.deferred, vec![Event::ConfigChanged], "not queued twice");

    // Handled without deferring: the queue empties.
    let out = run(Event::UpdateStatus, out, |_, _| Ok(())).unwrap();
    assert!(out.deferred.is_empty());
    let order = out
        .log_messages()
        .iter()
        .position(|l| l.starts_with("Re-emitting"))
        .unwrap()
        < out
            .log_messages()
            .iter()
            .position(|l| *l == "Emitting Juju event update_status.")
            .unwrap();
    assert!(order, "deferred events run before the new event");
}

#[test]
fn actions_cannot_be_deferred() {
    let state = State {
        action_params: serde_json::Map::from_iter([("target".to_string(), json!("/srv"))]),
        ..Default::default()
    };
    let event = Event::Action {
        name: "backup-now".into(),
        id: "1".into(),
    };
    let err = failure(run(event, state, |_, m| {
        m.defer()?;
        Ok(())
    }));
    assert!(err.contains("cannot defer action backup-now"), "{err}");
}

#[test]
fn actions_get_checked_params_and_flattened_results() {
    #[derive(serde::Deserialize)]
    struct Params {
        target: String,
        retries: u32,
    }
    let event = Event::Action {
        name: "backup-now".into(),
        id: "7".into(),
    };
    let state = State {
        action_params: serde_json::Map::from_iter([("target".to_string(), json!("/srv"))]),
        ..Default::default()
    };
    let out = run(event.clone(), state.clone(), |_, m| {
        let p: Params = m.action_params_as()?;
        assert_eq!(
            (p.target.as_str(), p.retries),
            ("/srv", 3),
            "default filled in"
        );
        m.action_log("starting")?;
        m.set_action_results(json!({"backup": {"id": "b1", "size": 12}, "ok": true}))?;
        m.fail_action("disk full")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(out.action_logs, vec!["starting".to_string()]);
    assert_eq!(out.action_results["backup.id"], "b1");
    assert_eq!(out.action_results["backup.size"], "12");
    assert_eq!(out.action_results["ok"], "true");
    assert_eq!(out.action_failure.as_deref(), Some("disk full"));
    assert!(
        out.tool_calls
            .contains(&"action-set backup.id=b1 backup.size=12 ok=true".into())
    );

    // Params that do not fit actions.yaml never reach the charm.
    let bad = State {
        action_params: serde_json::Map::from_iter([
            ("target".to_string(), json!("/srv")),
            ("bogus".to_string(), json!(1)),
        ]),
        ..Default::default()
    };
    match run(event, bad, |_, _| Ok(())) {
        Err(TestError::Inconsistent(p)) => assert!(p[0].contains("`bogus`"), "{p:?}"),
        other => panic!("{other:?}"),
    }
    // Action tools outside an action are refused.
    let err = failure(run(Event::UpdateStatus, State::default(), |_, m| {
        m.action_params()?;
        Ok(())
    }));
    assert!(err.contains("not running an action"), "{err}");
}

#[test]
fn secrets_round_trip_with_leadership_rules() {
    let observed = Secret::new([("password", "old")])
        .label("db-pass")
        .with_latest([("password", "new")]);
    let id = observed.id.clone();
    let state = State {
        leader: true,
        secrets: vec![observed],
        relations: vec![Relation::new("db", "postgresql")],
        ..Default::default()
    };
    let oid = id.clone();
    let out = run(Event::ConfigChanged, state.clone(), move |_, m| {
        assert_eq!(m.secret(&oid, SecretGet::Tracked)?["password"], "old");
        assert_eq!(m.secret(&oid, SecretGet::Tracked)?["password"], "old");
        assert_eq!(
            m.secret_by_label("db-pass", SecretGet::Peek)?["password"],
            "new"
        );
        assert_eq!(m.secret(&oid, SecretGet::Refresh)?["password"], "new");
        let new = m.add_secret(&SecretSpec::new([("api-key", "k1")]).label("mine"))?;
        let info = m.secret_info(&new)?;
        assert_eq!(info.revision, 1);
        m.set_secret(&new, &SecretSpec::new([("api-key", "k2")]))?;
        assert_eq!(m.secret_info(&new)?.revision, 2);
        let rel = m.relation("db")?.expect("db");
        m.grant_secret(&new, &rel, None)?;
        m.revoke_secret(&new, &rel, None)?;
        m.remove_secret(&new, Some(1))?;
        assert!(matches!(
            m.add_secret(&SecretSpec::new([("x", "y")])),
            Err(ModelError::Secret(_))
        ));
        let missing = m.secret("secret:nope", SecretGet::Tracked).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        Ok(())
    })
    .unwrap();
    let gets = out
        .tool_calls
        .iter()
        .filter(|c| *c == &format!("secret-get --format=json {id}"))
        .count();
    assert_eq!(gets, 1, "cached");
    assert!(
        out.tool_calls
            .iter()
            .any(|c| c == "secret-add --label mine --owner application api-key#file=<tmp>/api-key")
    );
    let mine = out
        .secrets
        .iter()
        .find(|s| s.label.as_deref() == Some("mine"))
        .unwrap();
    assert_eq!(mine.content["api-key"], "k2");
    assert!(mine.removed_revisions.contains(&1));

    let err = failure(run(Event::ConfigChanged, State::default(), |_, m| {
        m.add_secret(&SecretSpec::new([("api-key", "k")]))?;
        Ok(())
    }));
    assert!(
        err.contains("only the leader can add an application-owned secret"),
        "{err}"
    );
    run(Event::ConfigChanged, State::default(), |_, m| {
        m.add_secret(&SecretSpec::new([("api-key", "k")]).owner(SecretOwner::Unit))?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn broken_relations_are_hidden_and_departing_units_listed() {
    let rel = Relation::new("db", "postgresql").no_units();
    let broken = Event::RelationBroken(RelationEvent {
        endpoint: "db".into(),
        id: rel.id,
        remote_app: "postgresql".into(),
        remote_unit: None,
        departing_unit: None,
    });
    let state = State {
        relations: vec![rel.clone()],
        ..Default::default()
    };
    run(broken, state.clone(), |_, m| {
        assert!(m.relations("db")?.is_empty());
        assert_eq!(m.event_relation().expect("event relation").endpoint(), "db");
        Ok(())
    })
    .unwrap();
    let departed = Event::RelationDeparted(RelationEvent {
        endpoint: "db".into(),
        id: rel.id,
        remote_app: "postgresql".into(),
        remote_unit: Some("postgresql/3".into()),
        departing_unit: Some("postgresql/3".into()),
    });
    run(departed, state, |_, m| {
        let rel = m.event_relation().expect("rel");
        assert_eq!(rel.units()?, vec!["postgresql/3".to_string()]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn relation_events_use_the_event_for_the_remote_app() {
    let rel = Relation::new("db", "postgresql").unit("postgresql/0", [("host", "h")]);
    let state = State {
        relations: vec![rel.clone()],
        ..Default::default()
    };
    let out = run(changed(&rel), state, |_, m| {
        let rel = m.event_relation().expect("rel");
        assert_eq!(rel.remote_app()?.as_deref(), Some("postgresql"));
        assert_eq!(rel.unit_data("postgresql/0")?["host"], "h");
        assert_eq!(m.relation_by_id(rel.id())?.endpoint(), "db");
        assert!(
            m.relation_by_id(RelationId(9999))
                .unwrap_err()
                .is_not_found()
        );
        Ok(())
    })
    .unwrap();
    assert!(!out.tool_calls.iter().any(|c| c.contains("--app\n")));
    assert!(
        !out.tool_calls
            .iter()
            .any(|c| c.starts_with("relation-list") && c.ends_with("--app"))
    );
}

#[test]
fn undeclared_names_are_refused_before_any_tool_runs() {
    let out = run(Event::ConfigChanged, State::default(), |_, m| {
        for err in [
            m.relations("nope").map(drop).unwrap_err(),
            m.resource("nope").map(drop).unwrap_err(),
            m.storage("nope").map(drop).unwrap_err(),
            m.network("nope", None).map(drop).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                text.contains("`nope`") && text.contains("declares"),
                "{text}"
            );
        }
        Ok(())
    })
    .unwrap();
    assert!(out.tool_calls.is_empty(), "{:?}", out.tool_calls);
}

#[test]
fn ports_version_network_goal_state_resources_storage_and_stored_state() {
    let data = crate::context::StorageId {
        name: "data".into(),
        index: 0,
    };
    let state = State {
        opened_ports: [Port::tcp(80), Port::udp(53)].into(),
        planned_units: Some(3),
        resources: BTreeMap::from([("tool".to_string(), "/res/tool.tgz".into())]),
        storage: BTreeMap::from([(data.clone(), "/srv/data".into())]),
        stored: BTreeMap::from([("cluster-id".to_string(), json!("c-1"))]),
        ..Default::default()
    };
    let d = data.clone();
    let out = run(Event::ConfigChanged, state, move |_, m| {
        m.set_ports([Port::tcp(80), Port::tcp(8080)])?;
        m.set_workload_version("2.4.1");
        assert_eq!(
            m.network("metrics", None)?.ingress_address(),
            Some("192.0.2.0")
        );
        assert_eq!(m.planned_units()?, 3);
        assert_eq!(
            m.resource("tool")?,
            std::path::PathBuf::from("/res/tool.tgz")
        );
        assert_eq!(m.storage("data")?, vec![d.clone()]);
        assert_eq!(
            m.storage_info(&d)?.location,
            std::path::PathBuf::from("/srv/data")
        );
        assert_eq!(m.stored::<String>("cluster-id")?.as_deref(), Some("c-1"));
        m.store("tries", &2u32)?;
        m.remove_stored("cluster-id")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(out.opened_ports, [Port::tcp(80), Port::tcp(8080)].into());
    assert!(out.tool_calls.contains(&"close-port 53/udp".to_string()));
    assert!(out.tool_calls.contains(&"open-port 8080/tcp".to_string()));
    assert_eq!(out.workload_version.as_deref(), Some("2.4.1"));
    assert_eq!(
        out.stored,
        BTreeMap::from([("tries".to_string(), json!(2))])
    );
}

#[test]
fn the_emitting_line_matches_ops() {
    let out = run(Event::ConfigChanged, State::default(), |_, _| {
        tracing::info!("hello from the charm");
        Ok(())
    })
    .unwrap();
    let logs = out.log_messages();
    assert!(
        logs.contains(&"Emitting Juju event config_changed."),
        "{logs:?}"
    );
    assert!(logs.contains(&"hello from the charm"));
}

#[test]
fn inconsistent_states_are_rejected_with_every_problem() {
    let stray = Relation::new("nope", "x");
    let missing = Relation::new("db", "postgresql");
    let state = State {
        config: BTreeMap::from([
            ("port".to_string(), "eighty".into()),
            ("unknown".to_string(), true.into()),
        ]),
        relations: vec![stray],
        ..Default::default()
    };
    match run(changed(&missing), state, |_, _| Ok(())) {
        Err(TestError::Inconsistent(problems)) => {
            let all = problems.join("\n");
            for needle in [
                "`port` is int",
                "`unknown` is not in config.yaml",
                "`nope`, which is not an endpoint",
                "which is not in the state",
            ] {
                assert!(all.contains(needle), "{all} lacks {needle}");
            }
        }
        other => panic!("{other:?}"),
    }
    match run(Event::LeaderElected, State::default(), |_, _| Ok(())) {
        Err(TestError::Inconsistent(p)) => assert!(p[0].contains("leader = true"), "{p:?}"),
        other => panic!("{other:?}"),
    }
    let two = State {
        relations: vec![Relation::new("backup", "a"), Relation::new("backup", "b")],
        ..Default::default()
    };
    match run(Event::ConfigChanged, two, |_, _| Ok(())) {
        Err(TestError::Inconsistent(p)) => assert!(p.join(" ").contains("limit 1"), "{p:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn relation_returns_an_error_when_ambiguous() {
    let state = State {
        relations: vec![Relation::new("db", "a"), Relation::new("db", "b")],
        ..Default::default()
    };
    run(Event::ConfigChanged, state, |_, m| {
        assert!(matches!(
            m.relation("db"),
            Err(ModelError::TooManyRelations { count: 2, .. })
        ));
        assert_eq!(m.relations("db")?.len(), 2);
        Ok(())
    })
    .unwrap();
}

#[test]
fn containers_come_from_the_metadata() {
    run(Event::ConfigChanged, State::default(), |_, m| {
        let c = m.container("workload")?;
        assert_eq!(c.name(), "workload");
        let err = m.container("nope").unwrap_err().to_string();
        assert!(
            err.contains("`nope` is not a container") && err.contains("workload"),
            "{err}"
        );
        Ok(())
    })
    .unwrap();
}
