//! Actions against a fake controller behind the real gRPC server on a loopback port.

mod support;

use charm_core::event::Event;
use charm_core::metadata::ConfigValue;
use charm_core::testing::{Context, State};
use proto::image_backup::v1::{BackupPhase, RestoredWorkload};
use serde_json::json;
use support::*;

fn action(name: &str) -> Event {
    Event::Action {
        name: name.into(),
        id: "1".into(),
    }
}

fn state(params: serde_json::Value) -> State {
    State {
        config: [(
            "backup-registry".to_string(),
            ConfigValue::String("reg.example:5000/backups".into()),
        )]
        .into(),
        action_params: params.as_object().unwrap().clone(),
        ..State::default()
    }
}

fn run(name: &str, params: serde_json::Value) -> State {
    Context::<TestCharm>::new(metadata())
        .run(action(name), state(params))
        .unwrap()
}

#[test]
fn list_backups_is_a_table_of_source_backup_digest_phase() {
    let controller = FakeController::default()
        .with(backup("docker.io/library/nginx:1.27", BackupPhase::Done))
        .with(backup("ghcr.io/acme/app:2", BackupPhase::Running));
    let server = controller.serve();
    use_api(&server.address);
    let out = run("list-backups", json!({}));
    assert_eq!(out.action_failure, None);
    assert_eq!(out.action_results["count"], "2");
    let table = &out.action_results["backups"];
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["SOURCE", "BACKUP", "DIGEST", "PHASE"]);
    let done: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        done,
        [
            "docker.io/library/nginx:1.27",
            "reg.example:5000/backups/docker.io/library/nginx:1.27",
            DIGEST,
            "Done"
        ]
    );
    let running: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(running, ["ghcr.io/acme/app:2", "-", "-", "Running"]);
}

#[test]
fn list_backups_shows_what_admission_did_lately_newest_first() {
    let controller = FakeController::default();
    let server = controller.serve();
    use_api(&server.address);

    // A controller that does not admit says only that.
    let out = run("list-backups", json!({}));
    assert_eq!(out.action_failure, None);
    assert_eq!(out.action_results["admission.mode"], "off");
    assert!(!out.action_results.contains_key("admission.recent"));

    controller.admitted(
        "failover",
        [
            decision(
                1_000,
                "web",
                "shop-1",
                "docker.io/library/nginx:1.27",
                "available",
            ),
            decision(
                3_000,
                "web",
                "shop-2",
                "docker.io/library/nginx:1.27",
                "unavailable: registry unreachable",
            ),
            decision(
                2_000,
                "ops",
                "agent-x",
                "ghcr.io/acme/agent:1",
                "unavailable: 429",
            ),
        ],
    );
    let out = run("list-backups", json!({}));
    assert_eq!(out.action_failure, None);
    assert_eq!(out.action_results["admission.mode"], "failover");
    assert_eq!(out.action_results["admission.pods-admitted"], "3");
    assert_eq!(out.action_results["admission.images-rewritten"], "2");
    let nginx = format!("reg.example:5000/backups/docker.io/library/nginx@{DIGEST}");
    let agent = format!("reg.example:5000/backups/ghcr.io/acme/agent@{DIGEST}");
    let recent: Vec<Vec<&str>> = out.action_results["admission.recent"]
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        recent,
        [
            vec![
                "TIME",
                "NAMESPACE",
                "POD",
                "CONTAINER",
                "IMAGE",
                "ADMITTED-AS",
                "REASON"
            ],
            vec![
                "1970-01-01T00:50:00Z",
                "web",
                "shop-2",
                "main",
                "docker.io/library/nginx:1.27",
                nginx.as_str(),
                "unavailable: registry unreachable",
            ],
            vec![
                "1970-01-01T00:33:20Z",
                "ops",
                "agent-x",
                "main",
                "ghcr.io/acme/agent:1",
                agent.as_str(),
                "unavailable: 429",
            ],
            vec![
                "1970-01-01T00:16:40Z",
                "web",
                "shop-1",
                "main",
                "docker.io/library/nginx:1.27",
                "-",
                "available",
            ],
        ]
    );
    assert!(
        controller
            .calls()
            .contains(&"ListAdmissions limit=20".to_string()),
        "{:?}",
        controller.calls()
    );
}

#[test]
fn backup_now_creates_or_retries_a_backup() {
    let controller =
        FakeController::default().with(backup("ghcr.io/acme/app:2", BackupPhase::Done));
    let server = controller.serve();
    use_api(&server.address);

    let out = run("backup-now", json!({"image": " nginx:1.27 "}));
    assert_eq!(out.action_failure, None);
    assert_eq!(out.action_results["created"], "true");
    assert_eq!(out.action_results["phase"], "Pending");
    assert_eq!(out.action_results["source"], "nginx:1.27");
    assert!(!out.action_results.contains_key("backup-reference"));

    let out = run(
        "backup-now",
        json!({"image": "ghcr.io/acme/app:2", "force": true}),
    );
    assert_eq!(out.action_results["created"], "false");
    assert_eq!(
        out.action_results["backup-reference"],
        "reg.example:5000/backups/ghcr.io/acme/app:2"
    );
    assert_eq!(
        controller.calls(),
        [
            "BackupNow nginx:1.27 force=false",
            "BackupNow ghcr.io/acme/app:2 force=true"
        ]
    );
}

#[test]
fn backup_now_refuses_a_bad_reference_without_calling_the_controller() {
    let controller = FakeController::default();
    let server = controller.serve();
    use_api(&server.address);
    let out = run("backup-now", json!({"image": "Not An Image"}));
    let failure = out.action_failure.unwrap();
    assert!(failure.starts_with("image \"Not An Image\""), "{failure}");
    assert!(controller.calls().is_empty());
}

#[test]
fn controller_errors_fail_the_action_with_their_message() {
    let controller = FakeController::default();
    let server = controller.serve();
    use_api(&server.address);
    let out = run("backup-now", json!({"image": "unavailable:1"}));
    let failure = out.action_failure.unwrap();
    assert!(
        failure.contains("BackupNow") && failure.contains("not the leader"),
        "{failure}"
    );

    // Nothing listening: the action fails saying where it tried.
    use_api("http://127.0.0.1:1");
    let out = run("list-backups", json!({}));
    let failure = out.action_failure.unwrap();
    assert!(
        failure.contains("http://127.0.0.1:1") && failure.contains("is the controller running"),
        "{failure}"
    );
}

#[test]
fn restore_originals_lists_the_workloads_switched_back() {
    let controller = FakeController::default();
    controller.restorable.lock().unwrap().extend([
        RestoredWorkload {
            kind: "Deployment".into(),
            namespace: "web".into(),
            name: "shop".into(),
            images: vec!["nginx:1.27".into(), "redis:7".into()],
        },
        RestoredWorkload {
            kind: "DaemonSet".into(),
            namespace: "ops".into(),
            name: "agent".into(),
            images: vec!["ghcr.io/acme/agent:1".into()],
        },
    ]);
    let server = controller.serve();
    use_api(&server.address);

    let out = run("restore-originals", json!({"namespace": "web"}));
    assert_eq!(out.action_results["restored"], "1");
    let table = &out.action_results["workloads"];
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["Deployment", "web", "shop", "nginx:1.27,redis:7"]);

    let out = run("restore-originals", json!({}));
    assert_eq!(out.action_results["restored"], "2");
    assert_eq!(
        controller.calls(),
        ["RestoreOriginals \"web\"", "RestoreOriginals \"\""]
    );
}
