//! The simulator's hook tools, run as real processes inside an open hook context: command
//! forms, usage errors, permission rules, commit and discard, output shapes.

use integration_tests::Deploy;
use integration_tests::fixture::ScriptCharm;
use integration_tests::model::{Exit, Hook, Model};
use serde_json::{Value, json};

const PROVIDER: &str =
    "name: prov\nprovides:\n  db: {interface: demo}\npeers:\n  cluster: {interface: prov-peers}\n";
const REQUIRER: &str = "name: req\nrequires:\n  db: {interface: demo}\n";

struct World {
    model: Model,
    charms: Vec<ScriptCharm>,
    rel: u32,
    peers: u32,
}

/// prov (2 units, peers) related to req (2 units); every hook does nothing.
fn world() -> World {
    let prov = ScriptCharm::new(PROVIDER)
        .unwrap()
        .config("options:\n  name: {type: string, default: svc}\n  port: {type: int, default: 80}\n  ratio: {type: float}\n  debug: {type: boolean, default: false}\n")
        .unwrap()
        .actions("snapshot:\n  params:\n    target: {type: string}\n    depth: {type: integer, default: 2}\n  required: [target]\n")
        .unwrap();
    let req = ScriptCharm::new(REQUIRER).unwrap();
    let mut model = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    model
        .deploy("prov", Deploy::new(prov.path()).units(2))
        .unwrap();
    model
        .deploy("req", Deploy::new(req.path()).units(2))
        .unwrap();
    let rel = model.relate("prov", "req").unwrap();
    let peers = model
        .state()
        .unwrap()
        .relations
        .values()
        .find(|r| r.is_peer())
        .map(|r| r.id)
        .unwrap();
    World {
        model,
        charms: vec![prov, req],
        rel,
        peers,
    }
}

fn ok(exit: &Exit) -> &str {
    assert_eq!(exit.code, Some(0), "stderr: {}", exit.stderr);
    &exit.stdout
}

fn fails(exit: &Exit, code: i32, stderr: &str) {
    assert_eq!(
        exit.code,
        Some(code),
        "stdout {:?} stderr {:?}",
        exit.stdout,
        exit.stderr
    );
    assert_eq!(exit.stderr, format!("ERROR {stderr}\n"));
}

fn json(exit: &Exit) -> Value {
    serde_json::from_str(ok(exit)).unwrap_or_else(|e| panic!("{e}: {:?}", exit.stdout))
}

#[test]
fn unknown_options_and_arguments_are_usage_errors() {
    let mut w = world();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    for tool in [
        "relation-get",
        "relation-set",
        "config-get",
        "is-leader",
        "status-set",
        "juju-log",
        "resource-get",
        "secret-get",
        "state-get",
        "opened-ports",
    ] {
        let exit = h.tool(tool, &["--bogus"]).unwrap();
        fails(&exit, 2, "option provided but not defined: --bogus");
    }
    // Single-dash long options are read as runes, as gnuflag does.
    fails(
        &h.tool("config-get", &["-format", "json"]).unwrap(),
        2,
        "option provided but not defined: -f",
    );
    fails(
        &h.tool("config-get", &["--format=toml"]).unwrap(),
        2,
        "invalid value \"toml\" for option --format: unknown format \"toml\"",
    );
    fails(
        &h.tool("is-leader", &["extra"]).unwrap(),
        2,
        "unrecognized args: [\"extra\"]",
    );
    fails(
        &h.tool("status-set", &["happy"]).unwrap(),
        2,
        "invalid status \"happy\", expected one of [maintenance blocked waiting active]",
    );
    fails(
        &h.tool("relation-get", &[]).unwrap(),
        2,
        "no relation id specified",
    );
    fails(&h.tool("juju-log", &[]).unwrap(), 2, "no message specified");
    let help = h.tool("relation-get", &["--help"]).unwrap();
    assert!(ok(&help).starts_with("Usage: relation-get"));
    h.close(0).unwrap();
}

#[test]
fn relation_ids_are_checked_while_parsing() {
    let mut w = world();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool("relation-get", &["-r", "db:99", "-", "prov/0"])
            .unwrap(),
        2,
        "invalid value \"db:99\" for option -r: relation not found",
    );
    fails(
        &h.tool("relation-list", &["--relation=x"]).unwrap(),
        2,
        "invalid value \"x\" for option --relation: invalid relation id",
    );
    // The peer relation of another application is not this unit's.
    let peers = w.peers.to_string();
    fails(
        &h.tool("relation-list", &["-r", &peers]).unwrap(),
        2,
        &format!("invalid value \"{peers}\" for option -r: relation not found"),
    );
    fails(
        &h.tool("relation-get", &["-r", &w.rel.to_string(), "-", "prov"])
            .unwrap(),
        2,
        "expected unit name, got application name \"prov\"",
    );
    h.close(0).unwrap();
}

#[test]
fn ops_command_forms_read_relations() {
    let mut w = world();
    let rel = format!("db:{}", w.rel);
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(
        json(&h.tool("relation-ids", &["db", "--format=json"]).unwrap()),
        json!([rel])
    );
    assert_eq!(
        json(
            &h.tool("relation-list", &["--format=json", "-r", &rel])
                .unwrap()
        ),
        json!(["prov/0", "prov/1"])
    );
    assert_eq!(
        ok(&h.tool("relation-list", &["-r", &rel]).unwrap()),
        "prov/0\nprov/1\n"
    );
    assert_eq!(
        json(
            &h.tool("relation-list", &["--format=json", "-r", &rel, "--app"])
                .unwrap()
        ),
        json!("prov")
    );
    let bag = json(
        &h.tool(
            "relation-get",
            &["--format=json", "-r", &rel, "-", "prov/1"],
        )
        .unwrap(),
    );
    let address = bag["private-address"].as_str().unwrap().to_owned();
    assert_eq!(bag["ingress-address"], json!(address));
    assert_eq!(bag["egress-subnets"], json!(format!("{address}/32")));
    // A key that is not there prints null in JSON and nothing otherwise.
    assert_eq!(
        ok(&h
            .tool(
                "relation-get",
                &["--format=json", "-r", &rel, "nothing", "prov/1"]
            )
            .unwrap()),
        "null\n"
    );
    assert_eq!(
        ok(&h
            .tool("relation-get", &["-r", &rel, "nothing", "prov/1"])
            .unwrap()),
        ""
    );
    assert_eq!(
        json(
            &h.tool(
                "relation-get",
                &["--format=json", "-r", &rel, "--app", "-", "prov"]
            )
            .unwrap()
        ),
        json!({})
    );
    // A unit of an application not in the relation, and our own app bag as a non-leader.
    fails(
        &h.tool("relation-get", &["-r", &rel, "-", "other/0"])
            .unwrap(),
        1,
        "permission denied",
    );
    // The leader reads its own application bag; the others may not.
    ok(&h
        .tool("relation-get", &["-r", &rel, "--app", "-", "req"])
        .unwrap());
    h.close(0).unwrap();
    let h = w.model.open_hook("req/1", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool("relation-get", &["-r", &rel, "--app", "-", "req"])
            .unwrap(),
        1,
        "permission denied",
    );
    h.close(0).unwrap();
}

#[test]
fn only_the_leader_writes_the_application_bag() {
    let mut w = world();
    let rel = format!("db:{}", w.rel);
    let h = w.model.open_hook("req/1", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool_with_stdin(
            "relation-set",
            &["-r", &rel, "--app", "--file", "-"],
            br#"{"a": "b"}"#,
        )
        .unwrap(),
        1,
        "cannot write relation settings",
    );
    // Its own unit bag is fine.
    ok(&h
        .tool_with_stdin("relation-set", &["-r", &rel, "--file", "-"], b"u: v\n")
        .unwrap());
    h.close(0).unwrap();
    assert_eq!(w.model.unit_bag(w.rel, "req/1").unwrap()["u"], "v");
    assert!(w.model.app_bag(w.rel, "req").unwrap().is_empty());

    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    ok(&h
        .tool_with_stdin(
            "relation-set",
            &["-r", &rel, "--app", "--file", "-"],
            br#"{"a": "b"}"#,
        )
        .unwrap());
    // The leader reads its own app bag with the pending write.
    assert_eq!(
        json(
            &h.tool(
                "relation-get",
                &["--format=json", "-r", &rel, "--app", "-", "req"]
            )
            .unwrap()
        ),
        json!({"a": "b"})
    );
    h.close(0).unwrap();
    assert_eq!(w.model.app_bag(w.rel, "req").unwrap()["a"], "b");
}

#[test]
fn peers_read_their_application_bag_whoever_leads() {
    let mut w = world();
    let peers = format!("cluster:{}", w.peers);
    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    ok(&h
        .tool("relation-set", &["-r", &peers, "--app", "shared=1"])
        .unwrap());
    h.close(0).unwrap();
    let h = w.model.open_hook("prov/1", Hook::UpdateStatus).unwrap();
    assert_eq!(
        ok(&h
            .tool("relation-get", &["-r", &peers, "--app", "shared", "prov"])
            .unwrap()),
        "1\n"
    );
    h.close(0).unwrap();
}

#[test]
fn writes_commit_on_success_and_are_dropped_on_failure() {
    let mut w = world();
    w.model.set_auto_settle(false);
    let rel = format!("db:{}", w.rel);

    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    ok(&h
        .tool("relation-set", &["-r", &rel, "k=lost", "other=x"])
        .unwrap());
    ok(&h.tool("state-set", &["s=1"]).unwrap());
    ok(&h.tool("open-port", &["8080/tcp"]).unwrap());
    // Visible to the unit itself during the hook.
    assert_eq!(
        ok(&h.tool("relation-get", &["-r", &rel, "k", "req/0"]).unwrap()),
        "lost\n"
    );
    assert_eq!(ok(&h.tool("state-get", &["s"]).unwrap()), "1\n");
    // opened-ports does not show pending requests.
    assert_eq!(ok(&h.tool("opened-ports", &[]).unwrap()), "");
    h.close(1).unwrap();
    let state = w.model.state().unwrap();
    assert!(!state.relations[&w.rel].unit_data["req/0"].contains_key("k"));
    assert!(state.unit("req/0").unwrap().charm_state.is_empty());
    assert!(state.unit("req/0").unwrap().ports.is_empty());
    assert!(w.model.queue().is_empty());

    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    ok(&h
        .tool("relation-set", &["-r", &rel, "k=kept", "gone="])
        .unwrap());
    ok(&h.tool("state-set", &["s=1"]).unwrap());
    ok(&h.tool("open-port", &["8080/tcp"]).unwrap());
    h.close(0).unwrap();
    assert_eq!(w.model.unit_bag(w.rel, "req/0").unwrap()["k"], "kept");
    // The units that saw req/0 join get relation-changed.
    let queued: Vec<String> = w.model.queue().iter().map(|c| c.to_string()).collect();
    assert_eq!(
        queued,
        [
            format!("prov/0: relation-changed ({}, req/0)", w.rel),
            format!("prov/1: relation-changed ({}, req/0)", w.rel)
        ]
    );
    w.model.settle().unwrap();

    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    assert_eq!(
        ok(&h.tool("relation-get", &["-r", &rel, "k", "req/0"]).unwrap()),
        "kept\n"
    );
    h.close(0).unwrap();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(
        ok(&h.tool("opened-ports", &["--format=json"]).unwrap()),
        "[\"8080/tcp\"]\n"
    );
    assert_eq!(
        ok(&h.tool("state-get", &["--format=json"]).unwrap()),
        "{\"s\":\"1\"}\n"
    );
    fails(
        &h.tool("state-get", &["--strict", "nope"]).unwrap(),
        1,
        "\"nope\" not found",
    );
    h.close(0).unwrap();
}

#[test]
fn config_leadership_and_status_shapes() {
    let mut w = world();
    w.model
        .config_set("prov", &[("ratio", "1.5"), ("name", "db<&>")])
        .unwrap();
    let h = w.model.open_hook("prov/1", Hook::UpdateStatus).unwrap();
    assert_eq!(
        ok(&h.tool("config-get", &["--format=json"]).unwrap()),
        "{\"debug\":false,\"name\":\"db\\u003c\\u0026\\u003e\",\"port\":80,\"ratio\":1.5}\n"
    );
    assert_eq!(ok(&h.tool("config-get", &["port"]).unwrap()), "80\n");
    assert_eq!(ok(&h.tool("config-get", &["debug"]).unwrap()), "False\n");
    assert_eq!(
        ok(&h.tool("config-get", &["--format=json", "missing"]).unwrap()),
        "null\n"
    );
    fails(
        &h.tool("config-get", &["--all", "port"]).unwrap(),
        2,
        "cannot use argument --all together with key \"port\"",
    );
    assert_eq!(ok(&h.tool("is-leader", &[]).unwrap()), "False\n");
    assert_eq!(
        ok(&h.tool("is-leader", &["--format=json"]).unwrap()),
        "false\n"
    );
    ok(&h
        .tool(
            "status-set",
            &["--application=False", "blocked", "--", "need -x"],
        )
        .unwrap());
    assert_eq!(
        json(
            &h.tool("status-get", &["--include-data", "--format=json"])
                .unwrap()
        ),
        json!({"message": "need -x", "status": "blocked", "status-data": {}})
    );
    assert_eq!(ok(&h.tool("status-get", &[]).unwrap()), "blocked\n");
    fails(
        &h.tool("status-set", &["--application=True", "active"])
            .unwrap(),
        1,
        "this unit is not the leader",
    );
    fails(
        &h.tool("status-get", &["--application", "--format=json"])
            .unwrap(),
        1,
        "finding application status: this unit is not the leader",
    );
    ok(&h
        .tool("juju-log", &["--log-level", "WARNING", "--", "-careful-"])
        .unwrap());
    ok(&h.tool("juju-log", &["-l", "shout", "hi"]).unwrap());
    ok(&h.tool("application-version-set", &["--", "1.2"]).unwrap());
    h.close(1).unwrap();
    // Status, logs and version take effect at once, even in a failed hook.
    assert_eq!(w.model.unit_status("prov/1").unwrap().message, "need -x");
    let logs = w.model.logs("prov/1").unwrap();
    let lines: Vec<(String, String)> = logs.into_iter().map(|l| (l.level, l.message)).collect();
    assert_eq!(
        lines,
        [
            ("WARNING".to_owned(), "-careful-".to_owned()),
            (
                "WARNING".into(),
                "Specified log level of \"shout\" is not valid".into()
            ),
            ("INFO".into(), "hi".into()),
        ]
    );
    let state = w.model.state().unwrap();
    assert_eq!(state.unit("prov/1").unwrap().workload_version, "1.2");

    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    ok(&h
        .tool("status-set", &["--application=True", "active", "all good"])
        .unwrap());
    let app = json(
        &h.tool("status-get", &["--application", "--format=json"])
            .unwrap(),
    );
    assert_eq!(
        app,
        json!({"application-status": {"status": "active", "units": {
            "prov/0": {"status": "unknown"}, "prov/1": {"status": "blocked"}}}})
    );
    assert_eq!(ok(&h.tool("is-leader", &[]).unwrap()), "True\n");
    h.close(0).unwrap();
}

#[test]
fn juju_log_names_the_relation_in_relation_hooks() {
    let mut w = world();
    let h = w
        .model
        .open_hook(
            "req/0",
            Hook::RelationChanged {
                relation: w.rel,
                remote: Some("prov/0".into()),
            },
        )
        .unwrap();
    ok(&h.tool("juju-log", &["seen"]).unwrap());
    // In a relation hook -r defaults to it, and the remote unit to JUJU_REMOTE_UNIT.
    let bag = json(&h.tool("relation-get", &["--format=json"]).unwrap());
    assert!(bag["private-address"].is_string());
    h.close(0).unwrap();
    let logs = w.model.logs("req/0").unwrap();
    assert_eq!(logs.last().unwrap().message, format!("db:{}: seen", w.rel));
}

#[test]
fn actions_get_params_and_set_results() {
    let mut w = world();
    let params = serde_json::Map::from_iter([("target".into(), json!("t"))]);
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool("action-get", &[]).unwrap(),
        1,
        "not running an action",
    );
    fails(
        &h.tool("action-set", &["stdout=x"]).unwrap(),
        2,
        "cannot set reserved action key \"stdout\"",
    );
    h.close(0).unwrap();
    let h = w
        .model
        .open_hook(
            "prov/0",
            Hook::Action {
                name: "snapshot".into(),
                id: "7".into(),
                params,
            },
        )
        .unwrap();
    let env: std::collections::BTreeMap<_, _> = h.env().iter().cloned().collect();
    assert_eq!(env["JUJU_DISPATCH_PATH"], "actions/snapshot");
    assert_eq!(env["JUJU_ACTION_NAME"], "snapshot");
    assert_eq!(env["JUJU_ACTION_UUID"], "7");
    assert!(!env.contains_key("JUJU_HOOK_NAME"));
    assert_eq!(
        json(&h.tool("action-get", &["--format=json"]).unwrap()),
        json!({"target": "t"})
    );
    assert_eq!(ok(&h.tool("action-get", &["target"]).unwrap()), "t\n");
    ok(&h
        .tool("action-set", &["out.size=10G", "out.name=a=b"])
        .unwrap());
    fails(
        &h.tool("action-set", &["Bad=1"]).unwrap(),
        2,
        "key \"Bad\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
    );
    ok(&h.tool("action-log", &["step", "one"]).unwrap());
    h.close(0).unwrap();
}

#[test]
fn secrets_follow_owner_and_consumer_rules() {
    let mut w = world();
    let rel = format!("db:{}", w.rel);
    // Non-leaders cannot create application secrets; unit-owned ones are fine.
    let h = w.model.open_hook("prov/1", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool("secret-add", &["token=abc"]).unwrap(),
        1,
        "this unit is not the leader",
    );
    ok(&h
        .tool("secret-add", &["--owner", "unit", "token=abc"])
        .unwrap());
    fails(
        &h.tool("secret-add", &["x=1"]).unwrap(),
        2,
        "key \"x\" not valid",
    );
    fails(
        &h.tool("secret-add", &[]).unwrap(),
        2,
        "missing secret value or filename",
    );
    h.close(0).unwrap();

    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    let uri = ok(&h
        .tool("secret-add", &["--label", "db-pass", "password=s3cret"])
        .unwrap())
    .trim()
    .to_owned();
    assert!(uri.starts_with("secret:"), "{uri}");
    // Readable in the hook that created it, by label too.
    assert_eq!(
        json(&h.tool("secret-get", &[&uri, "--format=json"]).unwrap()),
        json!({"password": "s3cret"})
    );
    assert_eq!(
        ok(&h.tool("secret-get", &["--label", "db-pass"]).unwrap()),
        "password: s3cret\n"
    );
    // As in Juju, with --label the first argument is still the URI.
    fails(
        &h.tool("secret-get", &["--label", "db-pass", "password"])
            .unwrap(),
        2,
        "secret URI \"password\" not valid",
    );
    ok(&h.tool("secret-grant", &[&uri, "-r", &rel]).unwrap());
    h.close(0).unwrap();

    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    let content = json(&h.tool("secret-get", &[&uri, "--format=json"]).unwrap());
    assert_eq!(content, json!({"password": "s3cret"}));
    fails(
        &h.tool("secret-info-get", &[&uri]).unwrap(),
        1,
        &format!("secret \"{}\" not found", &uri[7..]),
    );
    fails(
        &h.tool("secret-set", &[&uri, "password=mine"]).unwrap(),
        1,
        &format!("secret \"{}\" not found", &uri[7..]),
    );
    h.close(0).unwrap();

    // A new revision: the consumer stays on what it read until it refreshes.
    w.model.set_auto_settle(false);
    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    ok(&h.tool("secret-set", &[&uri, "password=rotated"]).unwrap());
    h.close(0).unwrap();
    let queued: Vec<String> = w.model.queue().iter().map(|c| c.to_string()).collect();
    assert_eq!(queued, ["req/0: secret-changed"]);
    w.model.settle().unwrap();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(
        ok(&h.tool("secret-get", &[&uri, "password"]).unwrap()),
        "s3cret\n"
    );
    assert_eq!(
        ok(&h.tool("secret-get", &[&uri, "password", "--peek"]).unwrap()),
        "rotated\n"
    );
    assert_eq!(
        ok(&h.tool("secret-get", &[&uri, "password"]).unwrap()),
        "s3cret\n"
    );
    assert_eq!(
        ok(&h
            .tool("secret-get", &[&uri, "password", "--refresh"])
            .unwrap()),
        "rotated\n"
    );
    assert_eq!(
        ok(&h.tool("secret-get", &[&uri, "password"]).unwrap()),
        "rotated\n"
    );
    h.close(0).unwrap();
    // req/1 never got a grant of its own, but the grant is to the application.
    let h = w.model.open_hook("req/1", Hook::UpdateStatus).unwrap();
    ok(&h.tool("secret-get", &[&uri]).unwrap());
    h.close(0).unwrap();

    let h = w.model.open_hook("prov/0", Hook::UpdateStatus).unwrap();
    let info = json(&h.tool("secret-info-get", &[&uri, "--format=json"]).unwrap());
    let id = &uri[7..];
    assert_eq!(info[id]["revision"], json!(2));
    assert_eq!(info[id]["label"], json!("db-pass"));
    assert_eq!(info[id]["owner"], json!("application"));
    assert_eq!(info[id]["access"][0]["target"], json!("application-req"));
    h.close(0).unwrap();
}

#[test]
fn user_secrets_need_a_grant() {
    let mut w = world();
    let uri = w
        .model
        .add_secret(&[("username", "u"), ("password", "p")])
        .unwrap();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    fails(
        &h.tool("secret-get", &[&uri]).unwrap(),
        1,
        "permission denied",
    );
    fails(
        &h.tool("secret-get", &["secret:nope"]).unwrap(),
        2,
        "secret URI \"secret:nope\" not valid",
    );
    h.close(0).unwrap();
    w.model.grant_secret(&uri, "req").unwrap();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    assert_eq!(
        json(&h.tool("secret-get", &[&uri, "--format", "json"]).unwrap()),
        json!({"password": "p", "username": "u"})
    );
    h.close(0).unwrap();
}

#[test]
fn network_goal_state_and_output_files() {
    let mut w = world();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    let net = json(&h.tool("network-get", &["db", "--format=json"]).unwrap());
    let address = net["ingress-addresses"][0].as_str().unwrap().to_owned();
    assert_eq!(
        net["bind-addresses"][0]["addresses"][0]["value"],
        json!(address)
    );
    assert_eq!(
        ok(&h.tool("network-get", &["db", "--ingress-address"]).unwrap()),
        format!("{address}\n")
    );
    fails(
        &h.tool("network-get", &["nope"]).unwrap(),
        1,
        "no network config found for binding \"nope\"",
    );
    let goal = json(&h.tool("goal-state", &["--format=json"]).unwrap());
    assert_eq!(goal["units"]["req/0"]["status"], json!("active"));
    assert_eq!(goal["relations"]["db"]["prov"]["status"], json!("joined"));
    assert_eq!(goal["relations"]["db"]["prov/1"]["status"], json!("active"));
    ok(&h.tool("config-get", &["-o", "out.yaml"]).unwrap());
    h.close(0).unwrap();
    let written = std::fs::read_to_string(w.model.charm_dir("req/0").join("out.yaml")).unwrap();
    assert_eq!(written, "{}\n");
    drop(w.charms);
}

#[test]
fn tools_refuse_to_run_outside_their_hook() {
    let mut w = world();
    let h = w.model.open_hook("req/0", Hook::UpdateStatus).unwrap();
    let env = h.env().to_vec();
    h.close(0).unwrap();
    let run = |env: &[(String, String)]| {
        std::process::Command::new(w.model.bin_dir().join("is-leader"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    };
    let stale = run(&env);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stale.stderr).starts_with("ERROR bad request: unknown context")
    );
    let bare = run(&[]);
    assert_eq!(bare.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bare.stderr).contains("JUJU_SIM_STATE not set"));
}
