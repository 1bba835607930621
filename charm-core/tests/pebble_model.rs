//! Workload containers through the state-transition harness: fake Pebbles on real sockets
//! from `State::containers`, Pebble events and their lazily fetched details, and the
//! consistency rules for containers.

use std::cell::RefCell;
use std::collections::BTreeMap;

use charm_core::pebble::fake::{ContainerState, FakePebble};
use charm_core::pebble::{CheckStatus, Container, Layer, NoticeType, PushOptions, ServiceStatus};
use charm_core::testing::{Context, State, TestError};
use charm_core::{Charm, CharmError, Event, Metadata, Model};

const META: &str = r#"
name: app
containers:
  web: {}
  sidecar: {}
"#;

/// What the charm saw during the hook, for the test to look at afterwards.
#[derive(Debug, Default, Clone)]
struct Seen {
    can_connect: BTreeMap<String, bool>,
    notice: Option<charm_core::pebble::Notice>,
    check: Option<charm_core::pebble::CheckInfo>,
    pulled: Option<String>,
    error: Option<String>,
}

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

/// Looks at every container and at the event's details; on config-changed writes a file to
/// `web` and adds a notice; on upgrade-charm reads a file from `web`.
#[derive(Default)]
struct Probe;

impl Charm for Probe {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        let mut seen = Seen::default();
        for name in ["web", "sidecar"] {
            let container = model.container(name)?;
            seen.can_connect
                .insert(name.to_string(), container.can_connect().await);
        }
        seen.notice = model.event_notice().await?;
        seen.check = model.event_check_info().await?;
        let web = model.container("web")?;
        match event {
            Event::ConfigChanged => {
                let options = PushOptions {
                    make_dirs: true,
                    ..PushOptions::default()
                };
                web.pebble()
                    .push_bytes("/srv/data.txt", "written by the charm", &options)
                    .await?;
                web.pebble()
                    .notify("app.example.com/done", &BTreeMap::new())
                    .await?;
            }
            Event::UpgradeCharm => match web.pebble().pull_string("/etc/app.conf").await {
                Ok(text) => seen.pulled = Some(text),
                Err(e) => seen.error = Some(e.to_string()),
            },
            _ => {}
        }
        SEEN.with(|s| *s.borrow_mut() = seen);
        Ok(())
    }
}

fn ctx() -> Context<Probe> {
    Context::new(Metadata::from_packed(META, None, None).unwrap())
}

fn run(event: Event, state: State) -> Result<(State, Seen), TestError> {
    SEEN.with(|s| *s.borrow_mut() = Seen::default());
    let out = ctx().run(event, state)?;
    Ok((out, SEEN.with(|s| s.borrow().clone())))
}

fn with_containers(containers: impl IntoIterator<Item = (&'static str, ContainerState)>) -> State {
    State {
        containers: containers
            .into_iter()
            .map(|(name, c)| (name.to_string(), c))
            .collect(),
        ..State::default()
    }
}

fn checked_layer() -> Layer {
    Layer::from_yaml(
        "services:\n  web: {override: replace, command: /bin/web, startup: enabled}\n\
         checks:\n  alive: {override: replace, level: alive, exec: {command: /bin/true}}\n",
    )
    .unwrap()
}

#[test]
fn only_declared_reachable_containers_answer() {
    // `sidecar` is declared in the metadata but not in the state: no socket, as if its Pebble
    // were not up.
    let (out, seen) = run(
        Event::UpdateStatus,
        with_containers([("web", ContainerState::new())]),
    )
    .unwrap();
    assert!(seen.can_connect["web"]);
    assert!(!seen.can_connect["sidecar"]);
    assert_eq!(out.containers.keys().collect::<Vec<_>>(), ["web"]);

    let (_, seen) = run(
        Event::UpdateStatus,
        with_containers([
            ("web", ContainerState::unreachable()),
            ("sidecar", ContainerState::new()),
        ]),
    )
    .unwrap();
    assert!(!seen.can_connect["web"]);
    assert!(seen.can_connect["sidecar"]);
}

#[test]
fn files_are_served_and_read_back() {
    let web = ContainerState::new().with_file("/etc/app.conf", "port: 80");
    let (out, seen) = run(Event::UpgradeCharm, with_containers([("web", web.clone())])).unwrap();
    assert_eq!(seen.pulled.as_deref(), Some("port: 80"));
    assert_eq!(out.containers["web"].files["/etc/app.conf"], b"port: 80");

    let (out, _) = run(Event::ConfigChanged, with_containers([("web", web)])).unwrap();
    let web = &out.containers["web"];
    assert_eq!(web.files["/srv/data.txt"], b"written by the charm");
    assert!(web.dirs.contains("/srv"));
    // The notice the charm recorded is there too, numbered after nothing declared.
    assert_eq!(web.notices.len(), 1);
    assert_eq!(web.notices[0].id, "1");
    assert_eq!(web.notices[0].key, "app.example.com/done");
}

#[test]
fn a_missing_file_is_a_path_error_naming_it() {
    let (_, seen) = run(
        Event::UpgradeCharm,
        with_containers([("web", ContainerState::new())]),
    )
    .unwrap();
    let error = seen.error.expect("the pull failed");
    assert!(
        error.contains("not-found") && error.contains("/etc/app.conf"),
        "{error}"
    );
}

#[test]
fn the_custom_notice_is_fetched_from_pebble() {
    let data = BTreeMap::from([("path".to_string(), "/srv/x".to_string())]);
    let web = ContainerState::new()
        .with_notice(NoticeType::Custom, "app.example.com/first", BTreeMap::new())
        .with_notice(NoticeType::Custom, "app.example.com/second", data.clone());
    let state = with_containers([("web", web)]);
    let event = state
        .custom_notice_event("web", "app.example.com/second")
        .unwrap();
    let Event::PebbleCustomNotice { notice, .. } = &event else {
        panic!("not a custom notice event: {event:?}");
    };
    assert_eq!((notice.id.as_str(), notice.kind.as_str()), ("2", "custom"));

    let (_, seen) = run(event, state).unwrap();
    let notice = seen.notice.expect("the event's notice");
    assert_eq!(notice.id.as_str(), "2");
    assert_eq!(notice.key, "app.example.com/second");
    assert_eq!(notice.last_data, data);
    assert!(seen.check.is_none());
}

#[test]
fn check_events_give_the_check_as_pebble_reports_it() {
    let web = ContainerState::new()
        .with_layer("base", checked_layer())
        .with_check("alive", CheckStatus::Down, 3);
    let event = Event::PebbleCheckFailed {
        container: "web".into(),
        check: "alive".into(),
    };
    let (out, seen) = run(event, with_containers([("web", web.clone())])).unwrap();
    let check = seen.check.expect("the event's check");
    assert_eq!(check.name, "alive");
    assert_eq!(check.status, CheckStatus::Down);
    assert_eq!(check.failures, 3);
    assert!(seen.notice.is_none());
    assert_eq!(out.containers["web"].checks["alive"].failures, 3);

    let recovered = Event::PebbleCheckRecovered {
        container: "web".into(),
        check: "alive".into(),
    };
    let web = web.with_check("alive", CheckStatus::Up, 0);
    let (_, seen) = run(recovered, with_containers([("web", web)])).unwrap();
    assert_eq!(seen.check.map(|c| c.status), Some(CheckStatus::Up));
}

#[test]
fn other_events_have_no_notice_or_check() {
    let (_, seen) = run(
        Event::PebbleReady {
            container: "web".into(),
        },
        with_containers([("web", ContainerState::new())]),
    )
    .unwrap();
    assert!(seen.notice.is_none() && seen.check.is_none());
}

#[test]
fn output_states_chain_into_the_next_run() {
    let web = ContainerState::new()
        .with_layer("base", checked_layer())
        .with_service_status("web", ServiceStatus::Active);
    let (first, _) = run(Event::ConfigChanged, with_containers([("web", web)])).unwrap();
    // The notice the charm recorded keeps its id, so the event for it is consistent.
    let event = first
        .custom_notice_event("web", "app.example.com/done")
        .unwrap();
    let (second, seen) = run(event, first.clone()).unwrap();
    assert_eq!(
        seen.notice.map(|n| n.key).as_deref(),
        Some("app.example.com/done")
    );
    let (a, b) = (&first.containers["web"], &second.containers["web"]);
    assert_eq!(
        (&a.layers, &a.service_statuses),
        (&b.layers, &b.service_statuses)
    );
    assert_eq!(b.files["/srv/data.txt"], b"written by the charm");
}

#[test]
fn a_given_socket_base_holds_the_sockets_and_is_left_clean() {
    let base = tempfile::tempdir().unwrap();
    let ctx = ctx().pebble_socket_base(base.path());

    // A fake the test runs itself, at the declared container the state leaves out.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let own = FakePebble::start_background(Container::socket_path(base.path(), "sidecar")).unwrap();
    runtime.block_on(async {
        own.client()
            .push_bytes("/mine", "from the test", &Default::default())
            .await
            .unwrap();
    });

    SEEN.with(|s| *s.borrow_mut() = Seen::default());
    let state = with_containers([("web", ContainerState::new())]);
    let out = ctx.run(Event::UpdateStatus, state.clone()).unwrap();
    let seen = SEEN.with(|s| s.borrow().clone());
    assert!(seen.can_connect["web"]);
    assert!(seen.can_connect["sidecar"]);
    assert!(out.containers.contains_key("web"));
    assert!(!base.path().join("web/pebble.socket").exists());

    // The socket was removed, so the same base serves the next run.
    ctx.run(Event::UpdateStatus, state).unwrap();
    drop(own);
}

fn problems(event: Event, state: State) -> String {
    match run(event, state) {
        Err(TestError::Inconsistent(p)) => p.join("\n"),
        other => panic!("expected an inconsistent state, got {other:?}"),
    }
}

#[test]
fn containers_must_be_declared_and_make_sense() {
    let web = ContainerState::new()
        .with_layer("base", checked_layer())
        .with_service_status("ghost", ServiceStatus::Active)
        .with_file("relative/path", "x")
        .with_notice(NoticeType::Custom, "a.example.com/x", BTreeMap::new())
        .with_notice(NoticeType::Custom, "a.example.com/x", BTreeMap::new());
    let text = problems(
        Event::UpdateStatus,
        with_containers([("web", web), ("db", ContainerState::new())]),
    );
    for expected in [
        "container `db` is not declared (declared: sidecar, web)",
        "status to service `ghost`, which is not in its plan (services: web)",
        "path \"relative/path\" is not absolute",
        "declares notice custom \"a.example.com/x\" twice",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }

    let bad_layer = Layer::from_yaml("services: {x: {override: replace}}").unwrap();
    let text = problems(
        Event::UpdateStatus,
        with_containers([("web", ContainerState::new().with_layer("l", bad_layer))]),
    );
    assert!(text.contains("do not combine into a plan"), "{text}");
}

#[test]
fn pebble_events_need_their_container_notice_and_check() {
    let ready = Event::PebbleReady {
        container: "web".into(),
    };
    let text = problems(ready.clone(), State::default());
    assert!(
        text.contains("`web`, which is not in state.containers"),
        "{text}"
    );
    let text = problems(
        ready,
        with_containers([("web", ContainerState::unreachable())]),
    );
    assert!(text.contains("can_connect = false"), "{text}");

    let web =
        ContainerState::new().with_notice(NoticeType::Custom, "a.example.com/x", BTreeMap::new());
    let notice = |id: &str, key: &str| Event::PebbleCustomNotice {
        container: "web".into(),
        notice: charm_core::event::Notice {
            id: id.into(),
            kind: "custom".into(),
            key: key.into(),
        },
    };
    let text = problems(
        notice("2", "a.example.com/x"),
        with_containers([("web", web.clone())]),
    );
    assert!(
        text.contains("notice 2 (custom \"a.example.com/x\")")
            && text.contains("notices: 1 = custom \"a.example.com/x\""),
        "{text}"
    );
    let text = problems(
        notice("1", "a.example.com/y"),
        with_containers([("web", web.clone())]),
    );
    assert!(text.contains("does not declare"), "{text}");
    assert!(
        run(
            notice("1", "a.example.com/x"),
            with_containers([("web", web)])
        )
        .is_ok()
    );

    let failed = Event::PebbleCheckFailed {
        container: "web".into(),
        check: "ready".into(),
    };
    let web = ContainerState::new().with_layer("base", checked_layer());
    let text = problems(failed, with_containers([("web", web)]));
    assert!(
        text.contains("check `ready`, which is not in the plan of container `web` (checks: alive)"),
        "{text}"
    );
}
