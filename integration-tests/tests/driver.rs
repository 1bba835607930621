//! The model driver end to end, with fixture charms whose `dispatch` is a shell script
//! calling the simulator's hook tools: hook sequences, data crossing relations, failures and
//! retries, subordinates, leadership, upgrades, actions and packed charms.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use integration_tests::Deploy;
use integration_tests::fixture::ScriptCharm;
use integration_tests::model::{ActionStatus, Hook, HookCall, Model, ModelError};
use serde_json::json;

fn model() -> Model {
    Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap()
}

/// The hook names each unit ran, in order.
fn hooks_of(model: &Model, unit: &str) -> Vec<String> {
    model.hook_names(unit)
}

fn message(model: &Model, unit: &str) -> String {
    model.unit_status(unit).unwrap().message
}

const PEERED: &str =
    "name: prov\nprovides:\n  db: {interface: demo}\npeers:\n  cluster: {interface: prov-peers}\n";

#[test]
fn deploy_runs_the_startup_sequence_and_peers_meet() {
    let charm = ScriptCharm::new(PEERED).unwrap();
    let mut m = model();
    m.deploy("prov", Deploy::new(charm.path()).units(2))
        .unwrap();
    let joined = ["cluster-relation-joined", "cluster-relation-changed"];
    let mut leader = vec![
        "install",
        "cluster-relation-created",
        "leader-elected",
        "config-changed",
        "start",
    ];
    leader.extend(joined);
    assert_eq!(hooks_of(&m, "prov/0"), leader);
    let mut follower = leader.clone();
    follower[2] = "leader-settings-changed";
    assert_eq!(hooks_of(&m, "prov/1"), follower);
    assert_eq!(m.leader("prov").unwrap().as_deref(), Some("prov/0"));
    // A charm that never sets a status shows "unknown" once installed.
    assert_eq!(m.unit_status("prov/1").unwrap().status, "unknown");
}

#[test]
fn data_crosses_relations_and_changes_fire_relation_changed() {
    let req = ScriptCharm::new("name: req\nrequires:\n  db: {interface: demo}\n")
        .unwrap()
        .on("db-relation-joined", "relation-set ask=please\n")
        .unwrap()
        .on(
            "db-relation-changed",
            r#"if [ -z "${JUJU_REMOTE_UNIT:-}" ]; then status-set active "answer=$(relation-get --app answer) from $JUJU_REMOTE_APP"; fi
"#,
        )
        .unwrap();
    let prov = ScriptCharm::new(PEERED)
        .unwrap()
        .on(
            "db-relation-changed",
            r#"ask=$(relation-get ask)
status-set active "ask=$ask from $JUJU_REMOTE_UNIT"
if [ "$(is-leader)" = True ] && [ -n "$ask" ]; then relation-set --app answer=yes; fi
"#,
        )
        .unwrap();
    let mut m = model();
    m.deploy("prov", Deploy::new(prov.path())).unwrap();
    m.deploy("req", Deploy::new(req.path())).unwrap();
    let rel = m.relate("req:db", "prov:db").unwrap();
    assert_eq!(message(&m, "prov/0"), "ask=please from req/0");
    assert_eq!(message(&m, "req/0"), "answer=yes from prov");
    assert_eq!(m.app_bag(rel, "prov").unwrap()["answer"], "yes");
    let req_hooks = hooks_of(&m, "req/0");
    let tail: Vec<&str> = req_hooks[4..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "db-relation-created",
            "db-relation-joined",
            "db-relation-changed",
            // prov's answer in its application bag.
            "db-relation-changed"
        ]
    );
}

#[test]
fn a_failing_hook_commits_nothing_and_is_retried() {
    let charm = ScriptCharm::new(PEERED)
        .unwrap()
        .config("options:\n  mode: {type: string}\n")
        .unwrap()
        .on(
            "config-changed",
            "relation-set -r $(relation-ids cluster) mode=$(config-get mode)\nstate-set seen=yes\nexit 3\n",
        )
        .unwrap();
    let mut m = model();
    let err = m.deploy("prov", Deploy::new(charm.path())).unwrap_err();
    let ModelError::HookFailed(failure) = err else {
        panic!("expected a hook failure, got {err}");
    };
    assert_eq!(failure.call, HookCall::new("prov/0", Hook::ConfigChanged));
    assert_eq!(failure.reason, "exit status 3");
    let state = m.state().unwrap();
    let unit = state.unit("prov/0").unwrap();
    assert!(unit.charm_state.is_empty());
    let peers = state.relations.values().next().unwrap();
    assert!(!peers.unit_data["prov/0"].contains_key("mode"));
    // The failed hook waits at the head of the queue, like an errored unit.
    assert_eq!(m.queue().front(), Some(&failure.call));
    // "Fix" the charm on the unit and retry (juju resolve).
    let script = m.charm_dir("prov/0").join("scripts/config-changed");
    fs::write(&script, "state-set seen=yes\n").unwrap();
    m.settle().unwrap();
    assert_eq!(
        m.state().unwrap().unit("prov/0").unwrap().charm_state["seen"],
        "yes"
    );
    assert_eq!(
        hooks_of(&m, "prov/0").last().map(String::as_str),
        Some("start")
    );
}

#[test]
fn subordinates_follow_their_principals() {
    let host = ScriptCharm::new("name: host\n").unwrap();
    let sub = ScriptCharm::new(
        "name: sub\nsubordinate: true\nrequires:\n  juju-info: {interface: juju-info, scope: container}\n",
    )
    .unwrap()
    .on(
        "juju-info-relation-joined",
        r#"status-set active "on ${JUJU_PRINCIPAL_UNIT:-none} sees $(relation-list)""#,
    )
    .unwrap();
    let mut m = model();
    m.deploy("host", Deploy::new(host.path()).units(2)).unwrap();
    m.deploy("sub", Deploy::new(sub.path())).unwrap();
    assert!(m.deploy("bad", Deploy::new(sub.path()).units(1)).is_err());
    let rel = m.relate("sub", "host").unwrap();
    assert_eq!(m.units("sub").unwrap(), ["sub/0", "sub/1"]);
    assert_eq!(message(&m, "sub/0"), "on host/0 sees host/0");
    assert_eq!(message(&m, "sub/1"), "on host/1 sees host/1");
    assert!(
        m.remove_unit("sub/1").is_err(),
        "Juju removes subordinates with their principal"
    );
    // A new principal unit gets its subordinate.
    let unit = m.add_unit("host").unwrap();
    assert_eq!(unit, "host/2");
    assert_eq!(message(&m, "sub/2"), "on host/2 sees host/2");
    // Removing the principal removes its subordinate first.
    m.remove_unit("host/2").unwrap();
    assert_eq!(m.units("sub").unwrap(), ["sub/0", "sub/1"]);
    let last: Vec<String> = hooks_of(&m, "sub/2").into_iter().rev().take(4).collect();
    assert_eq!(
        last,
        [
            "remove",
            "stop",
            "juju-info-relation-broken",
            "juju-info-relation-departed"
        ]
    );
    // Removing the relation removes the subordinates.
    m.unrelate(rel).unwrap();
    assert!(m.units("sub").unwrap().is_empty());
    assert!(!m.state().unwrap().relations.contains_key(&rel));
}

#[test]
fn leadership_moves_when_the_leader_goes() {
    let charm = ScriptCharm::new(PEERED)
        .unwrap()
        .on(
            "cluster-relation-departed",
            r#"status-set active "departed $JUJU_DEPARTING_UNIT, members: $(relation-list)""#,
        )
        .unwrap();
    let mut m = model();
    m.deploy("prov", Deploy::new(charm.path()).units(3))
        .unwrap();
    m.set_leader("prov/1").unwrap();
    assert_eq!(
        hooks_of(&m, "prov/1").last().map(String::as_str),
        Some("leader-elected")
    );
    assert_eq!(
        hooks_of(&m, "prov/0").last().map(String::as_str),
        Some("leader-settings-changed")
    );
    m.remove_unit("prov/1").unwrap();
    assert_eq!(m.leader("prov").unwrap().as_deref(), Some("prov/0"));
    assert_eq!(
        hooks_of(&m, "prov/0").last().map(String::as_str),
        Some("leader-elected")
    );
    assert_eq!(message(&m, "prov/2"), "departed prov/1, members: prov/0");
    assert_eq!(m.units("prov").unwrap(), ["prov/0", "prov/2"]);
}

#[test]
fn upgrade_replaces_charm_files_but_keeps_what_the_charm_wrote() {
    let v1 = ScriptCharm::new("name: app\n")
        .unwrap()
        .on("install", "echo state > written-by-charm\n")
        .unwrap();
    let v2 = ScriptCharm::new("name: app\n")
        .unwrap()
        .config("options:\n  level: {type: int, default: 2}\n")
        .unwrap()
        .on(
            "upgrade-charm",
            r#"status-set active "v2 level $(config-get level)""#,
        )
        .unwrap();
    let mut m = model();
    m.deploy("app", Deploy::new(v1.path())).unwrap();
    m.upgrade("app", v2.path()).unwrap();
    let names = hooks_of(&m, "app/0");
    assert_eq!(
        names[names.len() - 2..],
        ["upgrade-charm", "config-changed"]
    );
    assert_eq!(message(&m, "app/0"), "v2 level 2");
    let dir = m.charm_dir("app/0");
    assert!(dir.join("written-by-charm").exists());
    assert!(!dir.join("scripts/install").exists());
    m.config_set("app", &[("level", "5")]).unwrap();
    assert!(m.config_set("app", &[("level", "five")]).is_err());
    assert!(m.config_set("app", &[("nope", "1")]).is_err());
    // Setting the same value again fires nothing.
    let before = m.history().len();
    m.config_set("app", &[("level", "5")]).unwrap();
    assert_eq!(m.history().len(), before);
}

#[test]
fn actions_report_results_logs_and_failures() {
    let charm = ScriptCharm::new("name: app\n")
        .unwrap()
        .actions("backup:\n  params:\n    target: {type: string}\n    depth: {type: integer, default: 2}\n  required: [target]\n  additionalProperties: false\n")
        .unwrap()
        .on(
            "backup",
            r#"action-log "backing up $(action-get target)"
action-set result.depth="$(action-get depth)" result.target="$(action-get target)"
case "$(action-get target)" in
  refuse) action-fail "refused on purpose" ;;
  crash) exit 4 ;;
esac
"#,
        )
        .unwrap();
    let mut m = model();
    m.deploy("app", Deploy::new(charm.path())).unwrap();
    let done = m
        .run_action("app/0", "backup", json!({"target": "/srv"}))
        .unwrap();
    assert_eq!(done.status, ActionStatus::Completed);
    assert_eq!(
        serde_json::Value::Object(done.results),
        json!({"result": {"depth": "2", "target": "/srv"}})
    );
    assert_eq!(done.log, ["backing up /srv"]);
    let refused = m
        .run_action("app/0", "backup", json!({"target": "refuse"}))
        .unwrap();
    assert_eq!(refused.status, ActionStatus::Failed);
    assert_eq!(refused.message.as_deref(), Some("refused on purpose"));
    let crashed = m
        .run_action("app/0", "backup", json!({"target": "crash"}))
        .unwrap();
    assert_eq!(crashed.status, ActionStatus::Failed);
    assert_eq!(crashed.message.as_deref(), Some("exit status 4"));
    assert_ne!(done.id, refused.id);
    for bad in [
        json!({}),
        json!({"target": 1}),
        json!({"target": "x", "more": 1}),
    ] {
        assert!(m.run_action("app/0", "backup", bad).is_err());
    }
    assert!(m.run_action("app/0", "restore", json!({})).is_err());
}

#[test]
fn tests_choose_hook_order() {
    let charm = ScriptCharm::new("name: app\n")
        .unwrap()
        .on(
            "any",
            "state-set count=$(( $(state-get count || echo 0) + 1 ))\n",
        )
        .unwrap();
    let mut m = model();
    m.set_auto_settle(false);
    m.deploy("app", Deploy::new(charm.path())).unwrap();
    let queued: Vec<String> = m.queue().iter().map(|c| c.to_string()).collect();
    assert_eq!(
        queued,
        [
            "app/0: install",
            "app/0: leader-elected",
            "app/0: config-changed",
            "app/0: start"
        ]
    );
    // config-changed first, then everything, then config-changed again.
    m.queue_mut().swap(0, 2);
    m.settle().unwrap();
    m.run("app/0", Hook::ConfigChanged).unwrap();
    assert_eq!(
        hooks_of(&m, "app/0"),
        [
            "config-changed",
            "leader-elected",
            "install",
            "start",
            "config-changed"
        ]
    );
    let state = m.state().unwrap();
    assert_eq!(state.unit("app/0").unwrap().charm_state["count"], "5");
}

#[test]
fn storage_and_containers_get_their_hooks() {
    let charm = ScriptCharm::new(
        "name: k8s\ncontainers:\n  workload: {resource: image}\nresources:\n  image: {type: oci-image}\nstorage:\n  data: {type: filesystem}\n",
    )
    .unwrap()
    .on(
        "data-storage-attached",
        r#"touch "$(storage-get location)/mark"; juju-log "attached $JUJU_STORAGE_ID""#,
    )
    .unwrap()
    .on("workload-pebble-ready", r#"status-set active "ready $JUJU_WORKLOAD_NAME $(resource-get image)""#)
    .unwrap();
    let image = tempfile::NamedTempFile::new().unwrap();
    let mut m = model();
    m.deploy(
        "k8s",
        Deploy::new(charm.path()).resource("image", image.path()),
    )
    .unwrap();
    let names = hooks_of(&m, "k8s/0");
    assert_eq!(
        names.first().map(String::as_str),
        Some("data-storage-attached")
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("workload-pebble-ready")
    );
    assert_eq!(
        message(&m, "k8s/0"),
        format!("ready workload {}", image.path().display())
    );
    let state = m.state().unwrap();
    let storage = &state.unit("k8s/0").unwrap().storage["data/0"];
    assert!(storage.location.join("mark").exists());
    assert_eq!(m.logs("k8s/0").unwrap()[0].message, "attached data/0");
}

/// Zips a charm directory the way a packer would, with the given mode for `dispatch`.
fn pack(dir: &std::path::Path, dispatch_mode: u32) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".charm")
        .tempfile()
        .unwrap();
    let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
    let mut entries = Vec::new();
    for entry in walk(dir) {
        entries.push(entry);
    }
    entries.sort();
    for rel in entries {
        let mode = if rel == "dispatch" {
            dispatch_mode
        } else {
            fs::metadata(dir.join(&rel)).unwrap().permissions().mode() & 0o777
        };
        let options = zip::write::SimpleFileOptions::default().unix_permissions(mode);
        zip.start_file(rel.as_str(), options).unwrap();
        zip.write_all(&fs::read(dir.join(&rel)).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    file
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn packed_charms_deploy_and_a_dispatch_without_its_mode_fails() {
    let charm = ScriptCharm::new("name: zipped\n")
        .unwrap()
        .on("start", "status-set active from-zip\n")
        .unwrap();
    let good = pack(charm.path(), 0o755);
    let mut m = model();
    m.deploy("zipped", Deploy::new(good.path())).unwrap();
    assert_eq!(message(&m, "zipped/0"), "from-zip");

    let bad = pack(charm.path(), 0o644);
    let err = m.deploy("broken", Deploy::new(bad.path())).unwrap_err();
    let ModelError::HookFailed(failure) = err else {
        panic!("expected a hook failure, got {err}");
    };
    assert!(
        failure.reason.contains("ermission denied"),
        "{}",
        failure.reason
    );
}

#[test]
fn kubernetes_units_get_a_pebble_per_container_until_their_pod_goes() {
    let charm = ScriptCharm::new(
        "name: k8s\ncontainers:\n  web: {resource: img}\n  sidecar: {resource: img}\nresources:\n  img: {type: oci-image}\n",
    )
    .unwrap()
    .on(
        "web-pebble-ready",
        r#"[ -S "$CHARM_CORE_PEBBLE_SOCKET_BASE/web/pebble.socket" ] && status-set active "web socket up""#,
    )
    .unwrap();
    let image = tempfile::NamedTempFile::new().unwrap();
    let mut m = model();
    m.deploy(
        "k8s",
        Deploy::new(charm.path()).resource("img", image.path()),
    )
    .unwrap();
    assert_eq!(message(&m, "k8s/0"), "web socket up");
    // The charm reaches its workload over the socket as charm-core's Model::container does.
    let base = m.dir().join("units/unit-k8s-0/containers");
    let container = charm_core::pebble::Container::with_socket_base("web", &base).unwrap();
    let layer = charm_core::pebble::Layer::new()
        .with_service("app", charm_core::pebble::Service::new("/bin/app"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert!(container.can_connect().await);
        container
            .pebble()
            .add_layer("app", &layer, true)
            .await
            .unwrap();
    });
    let fake = m.pebble("k8s/0", "web").unwrap();
    assert_eq!(fake.socket_path(), base.join("web/pebble.socket"));
    assert!(fake.plan().services.contains_key("app"));
    assert!(m.pebble("k8s/0", "sidecar").is_some());
    // The hook saw the socket base; machine charms do not get one.
    let hook = m.open_hook("k8s/0", Hook::UpdateStatus).unwrap();
    let base_var = hook
        .env()
        .iter()
        .find(|(k, _)| k == charm_core::PEBBLE_SOCKET_BASE_VAR)
        .map(|(_, v)| v.clone());
    assert_eq!(base_var, Some(base.display().to_string()));
    assert!(!hook.env().iter().any(|(k, _)| k == "JUJU_MACHINE_ID"));
    hook.close(0).unwrap();

    // A refresh recreates the pod: a fresh Pebble with an empty plan.
    m.upgrade("k8s", charm.path()).unwrap();
    assert!(m.pebble("k8s/0", "web").unwrap().plan().services.is_empty());
    m.remove_unit("k8s/0").unwrap();
    assert!(m.pebble("k8s/0", "web").is_none());
}

#[test]
fn goal_state_shows_units_being_removed_as_dying() {
    let out = tempfile::tempdir().unwrap();
    let charm = ScriptCharm::new(PEERED)
        .unwrap()
        .on(
            "stop",
            r#"goal-state --format=json > "$OUT/$(echo "$JUJU_UNIT_NAME" | tr / -).json""#,
        )
        .unwrap();
    let mut m = model();
    m.deploy(
        "prov",
        Deploy::new(charm.path())
            .units(2)
            .env("OUT", out.path().to_str().unwrap()),
    )
    .unwrap();
    m.remove_unit("prov/1").unwrap();
    let goal: serde_json::Value =
        serde_json::from_slice(&fs::read(out.path().join("prov-1.json")).unwrap()).unwrap();
    assert_eq!(goal["units"]["prov/1"]["status"], json!("dying"));
    assert_eq!(goal["units"]["prov/0"]["status"], json!("active"));
}

#[test]
fn a_unit_sees_a_relation_from_its_created_hook_until_its_broken_hook() {
    let ids = r#"status-set active "ids=$(relation-ids db | tr '\n' ' ')""#;
    let req = ScriptCharm::new("name: req\nrequires:\n  db: {interface: demo}\n")
        .unwrap()
        .on("any", ids)
        .unwrap();
    let prov = ScriptCharm::new(PEERED).unwrap().on("any", ids).unwrap();
    let mut m = model();
    m.deploy("prov", Deploy::new(prov.path())).unwrap();
    m.deploy("req", Deploy::new(req.path())).unwrap();
    m.set_auto_settle(false);
    let rel = m.relate("req:db", "prov:db").unwrap();
    // Before its relation-created hook, req/0's hooks do not list the relation.
    m.run("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(message(&m, "req/0"), "ids=");
    m.settle().unwrap();
    assert_eq!(message(&m, "req/0"), format!("ids=db:{rel} "));
    m.unrelate(rel).unwrap();
    // prov/0 leaves first; req/0 has not run its broken hook yet.
    let prov_first: Vec<HookCall> = m
        .queue()
        .iter()
        .filter(|c| c.unit == "prov/0")
        .cloned()
        .collect();
    m.queue_mut().retain(|c| c.unit != "prov/0");
    for call in prov_first {
        m.run(&call.unit, call.hook).unwrap();
    }
    m.run("prov/0", Hook::UpdateStatus).unwrap();
    assert_eq!(message(&m, "prov/0"), "ids=");
    m.run("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(message(&m, "req/0"), format!("ids=db:{rel} "));
    // During its own relation-broken hook the relation is still listed (ops hides it).
    m.settle().unwrap();
    assert_eq!(message(&m, "req/0"), format!("ids=db:{rel} "));
    m.run("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(message(&m, "req/0"), "ids=");
}
