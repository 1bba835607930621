//! Layers, plan, services, changes, checks and notices over a real socket to the fake Pebble.

use std::collections::BTreeMap;
use std::time::Duration;

use charm_core::pebble::fake::FakePebble;
use charm_core::pebble::{
    ChangeId, ChangeStatus, Check, CheckLevel, CheckStatus, Error, Layer, NoticeId, NoticeType,
    NoticesOptions, Plan, Service, ServiceStatus, Startup, TcpCheck,
};

fn web_layer() -> Layer {
    Layer::new()
        .with_summary("web")
        .with_service(
            "web",
            Service::new("/bin/web --port 80")
                .with_startup(Startup::Enabled)
                .with_env("MODE", "prod"),
        )
        .with_service(
            "db",
            Service::new("/bin/db").with_startup(Startup::Disabled),
        )
}

fn api_error(err: Error) -> (u16, String, Option<String>) {
    match err {
        Error::Api {
            status_code,
            message,
            kind,
            ..
        } => (status_code, message, kind),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn system_info_reports_version() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    assert!(client.can_connect().await);
    let info = client.system_info().await.unwrap();
    assert_eq!(info.version, charm_core::pebble::fake::FAKE_VERSION);
    assert!(info.boot_id.is_some());
}

#[tokio::test]
async fn layers_combine_into_the_plan_pebble_computes() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    assert_eq!(client.plan().await.unwrap(), Plan::default());

    client.add_layer("base", &web_layer(), false).await.unwrap();
    let update = Layer::from_yaml(
        "services: {web: {override: merge, environment: {MODE: dev, EXTRA: '1'}, after: [db]}}",
    )
    .unwrap();
    client.add_layer("base", &update, true).await.unwrap();

    let plan = client.plan().await.unwrap();
    let web = &plan.services["web"];
    assert_eq!(web.command.as_deref(), Some("/bin/web --port 80"));
    assert_eq!(web.environment["MODE"], "dev");
    assert_eq!(web.environment["EXTRA"], "1");
    assert_eq!(web.after, ["db"]);

    // The client computes the same plan from the same layers.
    let mut combined = web_layer();
    combined.combine("base", &update).unwrap();
    assert_eq!(plan, Plan::from_layers([("base", &combined)]).unwrap());
    assert_eq!(
        fake.layers().len(),
        1,
        "combine folds into the labelled layer"
    );
    assert_eq!(client.plan_yaml().await.unwrap(), plan.to_yaml().unwrap());
}

#[tokio::test]
async fn bad_layers_are_refused_with_pebbles_message() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    client.add_layer("base", &web_layer(), false).await.unwrap();

    let (code, message, _) = api_error(
        client
            .add_layer("base", &web_layer(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert_eq!(message, "layer \"base\" already exists");

    let (code, message, _) = api_error(
        client
            .add_layer_yaml("second", "services: {web: {command: x}}", false)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(
        message.contains("must define \"override\" for service \"web\""),
        "{message}"
    );

    let (_, message, _) = api_error(
        client
            .add_layer_yaml("third", "services: {new: {override: replace}}", true)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("plan must define \"command\" for service \"new\""),
        "{message}"
    );

    let (_, message, _) = api_error(
        client
            .add_layer_yaml("fourth", "services: [not, a, map]", false)
            .await
            .unwrap_err(),
    );
    assert!(message.contains("cannot parse layer YAML"), "{message}");

    // Nothing half-applied: the plan is unchanged.
    assert_eq!(fake.layers().len(), 1);
    assert!(!client.plan().await.unwrap().services.contains_key("new"));

    assert!(matches!(
        client.add_layer("", &web_layer(), false).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn services_start_stop_restart_and_report_status() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    client.add_layer("base", &web_layer(), false).await.unwrap();

    let all = client.services(&[]).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["db", "web"]
    );
    assert!(all.iter().all(|s| s.current == ServiceStatus::Inactive));
    assert_eq!(all[1].startup, Startup::Enabled);

    let change = client.start_services(&["db"]).await.unwrap();
    assert_eq!(change.kind, "start");
    assert_eq!(change.status, ChangeStatus::Done);
    assert!(change.ready);
    assert_eq!(change.summary, "Start service \"db\"");
    let db = client.services(&["db"]).await.unwrap();
    assert_eq!(db.len(), 1);
    assert!(db[0].is_running());
    assert!(db[0].current_since.is_some());

    client.restart_services(&["db"]).await.unwrap();
    assert_eq!(fake.service_status("db"), Some(ServiceStatus::Active));

    let change = client.stop_services(&["db"]).await.unwrap();
    assert_eq!(change.kind, "stop");
    assert_eq!(fake.service_status("db"), Some(ServiceStatus::Inactive));

    // The change can be read back by id.
    let again = client.change(&change.id).await.unwrap();
    assert_eq!(again.id, change.id);
    assert_eq!(again.kind, "stop");
}

#[tokio::test]
async fn replan_starts_enabled_services_and_restarts_changed_ones() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    client.add_layer("base", &web_layer(), false).await.unwrap();

    let change = client.replan_services().await.unwrap();
    assert_eq!(change.summary, "Replan service \"web\"");
    assert_eq!(fake.service_status("web"), Some(ServiceStatus::Active));
    assert_eq!(fake.service_status("db"), Some(ServiceStatus::Inactive));

    // Nothing changed: replan does nothing.
    let change = client.replan_services().await.unwrap();
    assert!(change.tasks.is_empty(), "{change:?}");
    assert_eq!(change.summary, "Replan - no services");

    // A configuration change restarts the service (a stop task, then a start task).
    let update = Layer::new().with_service(
        "web",
        Service::default()
            .with_override(charm_core::pebble::Override::Merge)
            .with_env("MODE", "dev"),
    );
    client.add_layer("base", &update, true).await.unwrap();
    let change = client.replan_services().await.unwrap();
    let kinds: Vec<&str> = change.tasks.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["stop", "start"]);
    assert_eq!(fake.service_status("web"), Some(ServiceStatus::Active));
}

#[tokio::test]
async fn requirements_start_and_stop_together() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let layer = Layer::from_yaml(
        "services:\n  app: {override: replace, command: app, requires: [db]}\n  db: {override: replace, command: db}",
    )
    .unwrap();
    client.add_layer("base", &layer, false).await.unwrap();

    let change = client.start_services(&["app"]).await.unwrap();
    let started: Vec<&str> = change.tasks.iter().map(|t| t.summary.as_str()).collect();
    assert_eq!(started, ["Start service \"db\"", "Start service \"app\""]);

    client.stop_services(&["db"]).await.unwrap();
    assert_eq!(
        fake.service_status("app"),
        Some(ServiceStatus::Inactive),
        "app requires db"
    );
}

#[tokio::test]
async fn service_errors_are_typed() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    client.add_layer("base", &web_layer(), false).await.unwrap();

    let (code, message, _) = api_error(client.start_services(&["nope"]).await.unwrap_err());
    assert_eq!(code, 400);
    assert_eq!(
        message,
        "cannot start services: service \"nope\" does not exist"
    );

    assert!(matches!(
        client.start_services(&[]).await,
        Err(Error::InvalidArgument(_))
    ));

    // A start that fails surfaces the change's error text and task log.
    fake.fail_service_start("web", "cannot start service: exited quickly with code 1");
    match client.start_services(&["web"]).await.unwrap_err() {
        Error::ChangeFailed { id, err } => {
            assert!(
                err.starts_with(
                    "cannot perform the following tasks:\n- Start service \"web\" (cannot start service: exited quickly with code 1)"
                ),
                "{err}"
            );
            assert!(err.contains("Logs from task 0"), "{err}");
            let change = client.change(&id).await.unwrap();
            assert_eq!(change.status, ChangeStatus::Error);
        }
        other => panic!("expected a failed change, got {other:?}"),
    }
    assert_eq!(fake.service_status("web"), Some(ServiceStatus::Error));
    fake.clear_service_start_failure("web");
    client.start_services(&["web"]).await.unwrap();

    let empty = FakePebble::start().await.unwrap();
    let (code, message, kind) = api_error(empty.client().autostart_services().await.unwrap_err());
    assert_eq!((code, message.as_str()), (400, "no default services"));
    assert_eq!(kind.as_deref(), Some("no-default-services"));
}

#[tokio::test]
async fn waiting_for_a_change_blocks_until_ready_or_times_out() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let id = fake.add_pending_change("custom", "Slow thing");

    match client
        .wait_change(&id, Duration::from_millis(200))
        .await
        .unwrap_err()
    {
        Error::Timeout { what, after } => {
            assert_eq!(what, format!("change {id}"));
            assert_eq!(after, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    let waiter = {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move { client.wait_change(&id, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    assert!(fake.finish_change(&id, Some("it broke")));
    let change = waiter.await.unwrap().unwrap();
    assert!(change.ready);
    assert_eq!(change.err.as_deref(), Some("it broke"));
    assert!(matches!(
        change.into_result(),
        Err(Error::ChangeFailed { err, .. }) if err == "it broke"
    ));

    let missing = ChangeId::new("999").unwrap();
    let err = client
        .wait_change(&missing, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let (code, message, _) = api_error(err);
    assert_eq!(
        (code, message.as_str()),
        (404, "cannot find change with id \"999\"")
    );
}

#[tokio::test]
async fn checks_report_status_and_start_stop() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let layer = web_layer()
        .with_check(
            "alive",
            Check {
                r#override: Some(charm_core::pebble::Override::Replace),
                level: Some(CheckLevel::Alive),
                tcp: Some(TcpCheck {
                    port: Some(80),
                    host: None,
                }),
                ..Check::default()
            },
        )
        .with_check(
            "ready",
            Check {
                r#override: Some(charm_core::pebble::Override::Replace),
                level: Some(CheckLevel::Ready),
                threshold: Some(5),
                exec: Some(charm_core::pebble::ExecCheck {
                    command: Some("/bin/true".into()),
                    ..Default::default()
                }),
                ..Check::default()
            },
        );
    client.add_layer("base", &layer, false).await.unwrap();

    let checks = client.checks(None, &[]).await.unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].name, "alive");
    assert_eq!(checks[0].status, CheckStatus::Up);
    assert_eq!(checks[0].threshold, 3, "Pebble's default threshold");
    assert_eq!(checks[1].threshold, 5);

    assert!(fake.set_check("ready", CheckStatus::Down, 5));
    let ready = client.checks(Some(CheckLevel::Ready), &[]).await.unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].status, CheckStatus::Down);
    assert_eq!(ready[0].failures, 5);
    assert_eq!(client.checks(None, &["alive"]).await.unwrap().len(), 1);

    assert_eq!(client.stop_checks(&["alive"]).await.unwrap(), ["alive"]);
    assert!(
        client.stop_checks(&["alive"]).await.unwrap().is_empty(),
        "already stopped"
    );
    assert_eq!(
        client.checks(None, &["alive"]).await.unwrap()[0].status,
        CheckStatus::Inactive
    );
    assert_eq!(client.start_checks(&["alive"]).await.unwrap(), ["alive"]);

    let (code, message, _) = api_error(client.start_checks(&["nope"]).await.unwrap_err());
    assert_eq!(code, 400);
    assert!(message.contains("nope"), "{message}");
    let (code, message, _) = api_error(
        client
            .checks(Some(CheckLevel::Other("sideways".into())), &[])
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (400, "level must be \"alive\" or \"ready\"")
    );
    assert!(matches!(
        client.stop_checks(&[]).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn notices_list_filter_and_get_by_id() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    assert!(
        client
            .notices(&NoticesOptions::default())
            .await
            .unwrap()
            .is_empty()
    );

    let data = BTreeMap::from([("path".to_string(), "/backups/1".to_string())]);
    let id = fake.add_notice(NoticeType::Custom, "example.com/backup-done", data.clone());
    fake.add_notice(NoticeType::Warning, "disk is full", BTreeMap::new());

    let notice = client.notice(&id).await.unwrap();
    assert_eq!(notice.id, id);
    assert_eq!(notice.notice_type, NoticeType::Custom);
    assert_eq!(notice.key, "example.com/backup-done");
    assert_eq!(notice.last_data, data);
    assert_eq!(notice.occurrences, 1);
    assert_eq!(notice.user_id, None);
    assert!(notice.expire_after.is_some());

    let custom = client
        .notices(&NoticesOptions {
            types: vec![NoticeType::Custom],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(custom.len(), 1);
    let by_key = client
        .notices(&NoticesOptions {
            keys: vec!["disk is full".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_key[0].notice_type, NoticeType::Warning);
    assert_eq!(
        client
            .notices(&NoticesOptions::default())
            .await
            .unwrap()
            .len(),
        2
    );

    // Notifying again repeats the same notice.
    let again = client
        .notify("example.com/backup-done", &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(client.notice(&id).await.unwrap().occurrences, 2);

    let err = client
        .notice(&NoticeId::new("999").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let (_, message, _) = api_error(err);
    assert_eq!(message, "cannot find notice with ID \"999\"");

    let (code, message, _) = api_error(
        client
            .notify("no-domain", &BTreeMap::new())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(message.contains("\"no-domain\""), "{message}");
}
