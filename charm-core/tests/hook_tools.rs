//! The production backend against real stand-in hook-tool processes: tiny shell scripts that
//! record their argv and stdin and print canned output, so the exact command lines (ops 3.x,
//! Juju 3) and the handling of tool output and failures are asserted on real processes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use charm_core::backend::{Backend, BackendError, RelationRef};
use charm_core::context::StorageId;
use charm_core::hooktool::HookTools;
use charm_core::log::LogLevel;
use charm_core::network::Port;
use charm_core::secret::{SecretGet, SecretOwner, SecretRotate, SecretSpec};
use charm_core::{RelationId, Status};

mod support;
use support::TOOLS;

/// Records each call as `call.N` (argv, NUL-separated), its stdin as `stdin.N`, copies files
/// passed as `key#file=PATH` to `secret.N.key` (they are gone after the call), then prints
/// `<tool>.out`, writes `<tool>.err` to stderr and exits with `<tool>.code`.
const STANDIN: &str = r#"#!/bin/sh
d="$(dirname "$0")"
n="$(basename "$0")"
i=$(cat "$d/count" 2>/dev/null || echo 0)
i=$((i+1))
echo "$i" > "$d/count"
printf '%s\0' "$n" "$@" > "$d/call.$i"
cat > "$d/stdin.$i"
for a in "$@"; do
  case "$a" in
    *'#file='*) k="${a%%#file=*}"; f="${a#*#file=}"; cp "$f" "$d/secret.$i.$k"; echo "$f" >> "$d/secret-paths";;
  esac
done
[ -e "$d/$n.err" ] && cat "$d/$n.err" >&2
[ -e "$d/$n.out" ] && cat "$d/$n.out"
exit "$(cat "$d/$n.code" 2>/dev/null || echo 0)"
"#;

struct Tools {
    dir: tempfile::TempDir,
}

impl Tools {
    fn new() -> Tools {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("standin");
        fs::write(&script, STANDIN).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        for t in TOOLS {
            symlink(&script, dir.path().join(t)).unwrap();
        }
        Tools { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The stand-ins first, then the system's PATH (the scripts need `cat`).
    fn backend(&self) -> HookTools {
        let system = std::env::var("PATH").unwrap_or_default();
        HookTools::with_search_path(format!("{}:{system}", self.path().display()))
    }

    fn out(&self, tool: &str, text: &str) -> &Self {
        fs::write(self.path().join(format!("{tool}.out")), text).unwrap();
        self
    }

    fn fail(&self, tool: &str, code: u8, stderr: &str) -> &Self {
        fs::write(self.path().join(format!("{tool}.code")), code.to_string()).unwrap();
        fs::write(self.path().join(format!("{tool}.err")), stderr).unwrap();
        self
    }

    fn count(&self) -> usize {
        fs::read_to_string(self.path().join("count"))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0)
    }

    /// argv of call `i` (1-based).
    fn call(&self, i: usize) -> Vec<String> {
        let raw = fs::read(self.path().join(format!("call.{i}"))).unwrap();
        let mut parts: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        parts.pop(); // after the last NUL
        parts
    }

    fn last(&self) -> Vec<String> {
        self.call(self.count())
    }

    fn stdin(&self, i: usize) -> String {
        fs::read_to_string(self.path().join(format!("stdin.{i}"))).unwrap()
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn rel(endpoint: &str, id: u64) -> RelationRef<'_> {
    RelationRef {
        endpoint,
        id: RelationId(id),
    }
}

#[test]
fn config_leadership_and_relations_use_ops_command_lines() {
    let t = Tools::new();
    let mut b = t.backend();

    t.out(
        "config-get",
        r#"{"fileset": "/etc", "port": 80, "debug": true}"#,
    );
    let config = b.config_get().unwrap();
    assert_eq!(config["port"], 80);
    assert_eq!(t.last(), argv(&["config-get", "--format=json"]));

    t.out("is-leader", "true\n");
    assert!(b.is_leader().unwrap());
    assert_eq!(t.last(), argv(&["is-leader", "--format=json"]));

    t.out("relation-ids", r#"["backup:3", "backup:12"]"#);
    assert_eq!(
        b.relation_ids("backup").unwrap(),
        vec![RelationId(3), RelationId(12)]
    );
    assert_eq!(t.last(), argv(&["relation-ids", "backup", "--format=json"]));

    t.out("relation-list", r#"["bacula-fd/0", "bacula-fd/1"]"#);
    assert_eq!(b.relation_list(rel("backup", 3)).unwrap().len(), 2);
    assert_eq!(
        t.last(),
        argv(&["relation-list", "--format=json", "-r", "backup:3"])
    );

    t.out("relation-list", r#""bacula-fd""#);
    assert_eq!(
        b.relation_remote_app(rel("backup", 3)).unwrap().as_deref(),
        Some("bacula-fd")
    );
    assert_eq!(
        t.last(),
        argv(&["relation-list", "--format=json", "-r", "backup:3", "--app"])
    );

    t.out("relation-get", r#"{"fileset": "/etc", "n": 3}"#);
    let bag = b
        .relation_get(rel("backup", 3), "backup-integrator", true)
        .unwrap();
    assert_eq!(bag["fileset"], "/etc");
    assert_eq!(bag["n"], "3");
    assert_eq!(
        t.last(),
        argv(&[
            "relation-get",
            "--format=json",
            "-r",
            "backup:3",
            "--app",
            "-",
            "backup-integrator"
        ])
    );
    t.out("relation-get", "null");
    assert!(
        b.relation_get(rel("backup", 3), "bacula-fd/0", false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.last(),
        argv(&[
            "relation-get",
            "--format=json",
            "-r",
            "backup:3",
            "-",
            "bacula-fd/0"
        ])
    );

    let changes = BTreeMap::from([
        ("fileset".to_string(), "/etc,/srv".to_string()),
        ("old".to_string(), String::new()),
    ]);
    b.relation_set(rel("backup", 3), true, &changes).unwrap();
    let i = t.count();
    assert_eq!(
        t.call(i),
        argv(&["relation-set", "-r", "backup:3", "--app", "--file", "-"])
    );
    let sent: BTreeMap<String, String> = serde_json::from_str(&t.stdin(i)).unwrap();
    assert_eq!(
        sent, changes,
        "the whole change set on stdin, empty value deletes"
    );
    b.relation_set(rel("backup", 3), false, &changes).unwrap();
    assert_eq!(
        t.last(),
        argv(&["relation-set", "-r", "backup:3", "--file", "-"])
    );
    assert_eq!(b.calls(), t.count());
}

#[test]
fn status_log_version_and_action_command_lines() {
    let t = Tools::new();
    let mut b = t.backend();
    b.status_set(false, &Status::blocked("missing fileset config"))
        .unwrap();
    assert_eq!(
        t.last(),
        argv(&[
            "status-set",
            "--application=False",
            "blocked",
            "--",
            "missing fileset config"
        ])
    );
    b.status_set(true, &Status::active("")).unwrap();
    assert_eq!(
        t.last(),
        argv(&["status-set", "--application=True", "active", "--", ""])
    );

    t.out(
        "status-get",
        r#"{"message": "ready", "status": "active", "status-data": {}}"#,
    );
    assert_eq!(b.status_get(false).unwrap(), Some(Status::active("ready")));
    assert_eq!(
        t.last(),
        argv(&[
            "status-get",
            "--include-data",
            "--format=json",
            "--application=False"
        ])
    );
    t.out(
        "status-get",
        r#"{"application-status": {"message": "", "status": "unknown", "status-data": {}}, "units": {}}"#,
    );
    assert_eq!(b.status_get(true).unwrap(), None, "unknown is Juju's");

    b.application_version_set("-v1.2").unwrap();
    assert_eq!(t.last(), argv(&["application-version-set", "--", "-v1.2"]));

    b.juju_log(LogLevel::Warning, "-- odd\nsecond line")
        .unwrap();
    assert_eq!(
        t.last(),
        argv(&[
            "juju-log",
            "--log-level",
            "WARNING",
            "--",
            "-- odd\nsecond line"
        ])
    );

    t.out("action-get", r#"{"target": "/srv", "retries": 2}"#);
    assert_eq!(b.action_get().unwrap()["retries"], 2);
    assert_eq!(t.last(), argv(&["action-get", "--format=json"]));
    let results = BTreeMap::from([
        ("a.b".to_string(), "1".to_string()),
        ("msg".to_string(), "with space".to_string()),
    ]);
    b.action_set(&results).unwrap();
    assert_eq!(t.last(), argv(&["action-set", "a.b=1", "msg=with space"]));
    b.action_log("-progress").unwrap();
    assert_eq!(t.last(), argv(&["action-log", "--", "-progress"]));
    b.action_fail("disk full").unwrap();
    assert_eq!(t.last(), argv(&["action-fail", "--", "disk full"]));
}

#[test]
fn network_goal_state_resources_ports_and_storage() {
    let t = Tools::new();
    let mut b = t.backend();
    t.out(
        "network-get",
        r#"{"bind-addresses": [{"mac-address": "", "interface-name": "eth0",
            "addresses": [{"hostname": "", "value": "10.1.2.3", "cidr": "10.1.2.0/24"}]}],
            "egress-subnets": ["10.1.2.3/32"], "ingress-addresses": ["10.1.2.3"]}"#,
    );
    let n = b.network_get("backup", Some(RelationId(4))).unwrap();
    assert_eq!(n.ingress_address(), Some("10.1.2.3"));
    assert_eq!(
        t.last(),
        argv(&["network-get", "--format=json", "-r", "4", "backup"])
    );
    b.network_get("metrics", None).unwrap();
    assert_eq!(t.last(), argv(&["network-get", "--format=json", "metrics"]));

    t.out(
        "goal-state",
        r#"{"units": {"app/0": {"status": "active", "since": "2024-01-01 00:00:00Z"},
                      "app/1": {"status": "dying", "since": "2024-01-01 00:00:00Z"}},
            "relations": {"db": {"pg": {"status": "joined", "since": "x"}}}}"#,
    );
    let g = b.goal_state().unwrap();
    assert_eq!(g.planned_units(), 1);
    assert_eq!(g.relations["db"]["pg"], "joined");
    assert_eq!(t.last(), argv(&["goal-state", "--format=json"]));

    t.out("resource-get", "/var/lib/juju/resources/tool.tgz\n");
    assert_eq!(
        b.resource_get("tool").unwrap(),
        PathBuf::from("/var/lib/juju/resources/tool.tgz")
    );
    assert_eq!(t.last(), argv(&["resource-get", "tool"]));

    t.out(
        "opened-ports",
        r#"["8080/tcp", "1000-2000/udp (metrics)", "icmp"]"#,
    );
    let ports = b.opened_ports().unwrap();
    assert_eq!(ports[0], Port::tcp(8080));
    assert_eq!(ports[1].to_string(), "1000-2000/udp");
    assert_eq!(ports[2], Port::icmp());
    assert_eq!(t.last(), argv(&["opened-ports", "--format=json"]));
    b.open_port(&Port::tcp(443)).unwrap();
    assert_eq!(t.last(), argv(&["open-port", "443/tcp"]));
    b.close_port(&Port::udp(53)).unwrap();
    assert_eq!(t.last(), argv(&["close-port", "53/udp"]));

    t.out("storage-list", r#"["data/0", "data/1"]"#);
    let ids = b.storage_list(Some("data")).unwrap();
    assert_eq!(ids[1].to_string(), "data/1");
    assert_eq!(t.last(), argv(&["storage-list", "--format=json", "data"]));
    t.out(
        "storage-get",
        r#"{"kind": "filesystem", "location": "/srv/data"}"#,
    );
    let id = StorageId {
        name: "data".into(),
        index: 1,
    };
    assert_eq!(
        b.storage_get(&id).unwrap().location,
        PathBuf::from("/srv/data")
    );
    assert_eq!(
        t.last(),
        argv(&["storage-get", "--format=json", "-s", "data/1"])
    );

    t.out("state-get", r#"{"k": "\"v\""}"#);
    assert_eq!(b.state_get().unwrap()["k"], "\"v\"");
    assert_eq!(t.last(), argv(&["state-get", "--format=json"]));
    let values = BTreeMap::from([("k".to_string(), "secret-ish".to_string())]);
    b.state_set(&values).unwrap();
    let i = t.count();
    assert_eq!(t.call(i), argv(&["state-set", "--file", "-"]));
    assert!(
        t.stdin(i).contains("secret-ish"),
        "values on stdin, not argv"
    );
    b.state_delete("k").unwrap();
    assert_eq!(t.last(), argv(&["state-delete", "k"]));
}

#[test]
fn secret_content_goes_through_files_never_argv() {
    let t = Tools::new();
    let mut b = t.backend();
    t.out("secret-add", "secret:cu6r4tbdutfs74g4jr60\n");
    let spec = SecretSpec {
        content: BTreeMap::from([
            ("password".to_string(), "hunter2 with spaces".to_string()),
            ("username".to_string(), "admin".to_string()),
        ]),
        label: Some("creds".into()),
        description: Some("registry login".into()),
        expire: Some("24h".into()),
        rotate: Some(SecretRotate::Monthly),
        owner: SecretOwner::Unit,
    };
    let id = b.secret_add(&spec).unwrap();
    assert_eq!(id, "secret:cu6r4tbdutfs74g4jr60");
    let i = t.count();
    let call = t.call(i);
    assert_eq!(
        call[..11],
        argv(&[
            "secret-add",
            "--label",
            "creds",
            "--description",
            "registry login",
            "--expire",
            "24h",
            "--rotate",
            "monthly",
            "--owner",
            "unit"
        ])
    );
    assert!(call[11].starts_with("password#file=") && call[12].starts_with("username#file="));
    assert!(!call.iter().any(|a| a.contains("hunter2")), "{call:?}");
    let copied = fs::read_to_string(t.path().join(format!("secret.{i}.password"))).unwrap();
    assert_eq!(copied, "hunter2 with spaces");
    for p in fs::read_to_string(t.path().join("secret-paths"))
        .unwrap()
        .lines()
    {
        assert!(!Path::new(p).exists(), "secret file {p} left behind");
    }

    b.secret_set(&id, &SecretSpec::new([("password", "new-pass")]))
        .unwrap();
    let call = t.last();
    assert_eq!(call[..2], argv(&["secret-set", &id]));
    assert!(call[2].starts_with("password#file="));

    t.out("secret-get", r#"{"password": "new-pass"}"#);
    let c = b.secret_get(Some(&id), None, SecretGet::Refresh).unwrap();
    assert_eq!(c["password"], "new-pass");
    assert_eq!(
        t.last(),
        argv(&["secret-get", "--format=json", &id, "--refresh"])
    );
    b.secret_get(None, Some("creds"), SecretGet::Peek).unwrap();
    assert_eq!(
        t.last(),
        argv(&["secret-get", "--format=json", "--label", "creds", "--peek"])
    );

    t.out(
        "secret-info-get",
        &format!(r#"{{"{id}": {{"revision": 2, "label": "creds", "owner": "unit", "rotation": "monthly"}}}}"#),
    );
    let info = b.secret_info_get(Some(&id), None).unwrap();
    assert_eq!(
        (info.revision, info.rotation),
        (2, Some(SecretRotate::Monthly))
    );
    assert_eq!(t.last(), argv(&["secret-info-get", "--format=json", &id]));

    b.secret_grant(&id, RelationId(5), Some("pg/0")).unwrap();
    assert_eq!(
        t.last(),
        argv(&["secret-grant", "--relation", "5", "--unit", "pg/0", &id])
    );
    b.secret_revoke(&id, RelationId(5), None).unwrap();
    assert_eq!(t.last(), argv(&["secret-revoke", "--relation", "5", &id]));
    b.secret_remove(&id, Some(1)).unwrap();
    assert_eq!(t.last(), argv(&["secret-remove", &id, "--revision", "1"]));
    b.secret_remove(&id, None).unwrap();
    assert_eq!(t.last(), argv(&["secret-remove", &id]));
}

#[test]
fn tool_failures_are_typed() {
    let t = Tools::new();
    let mut b = t.backend();

    t.fail("relation-get", 2, "ERROR relation not found\n");
    match b.relation_get(rel("db", 9), "pg/0", false) {
        Err(BackendError::RelationNotFound { relation, stderr }) => {
            assert_eq!(relation, "db:9");
            assert_eq!(stderr, "ERROR relation not found");
        }
        other => panic!("{other:?}"),
    }

    t.fail(
        "relation-set",
        1,
        "ERROR cannot write relation settings: permission denied",
    );
    assert!(matches!(
        b.relation_set(rel("db", 9), true, &BTreeMap::new()),
        Err(BackendError::PermissionDenied { .. })
    ));

    t.fail("status-set", 1, "ERROR this unit is not the leader");
    assert!(matches!(
        b.status_set(true, &Status::active("")),
        Err(BackendError::NotLeader { .. })
    ));

    t.fail("secret-get", 1, "ERROR secret \"cu6\" not found");
    match b.secret_get(Some("secret:cu6"), None, SecretGet::Tracked) {
        Err(BackendError::SecretNotFound { secret, .. }) => assert_eq!(secret, "secret:cu6"),
        other => panic!("{other:?}"),
    }

    t.fail("config-get", 3, "ERROR something broke\n");
    match b.config_get() {
        Err(e @ BackendError::ToolFailed { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("config-get --format=json")
                    && text.contains("exit status 3")
                    && text.contains("something broke"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }

    fs::remove_file(t.path().join("is-leader")).unwrap();
    match b.is_leader() {
        Err(BackendError::ToolMissing { tool }) => assert_eq!(tool, "is-leader"),
        other => panic!("{other:?}"),
    }
}

type ToolCall = Box<dyn Fn(&mut HookTools) -> Result<(), BackendError>>;

#[test]
fn malformed_tool_output_is_an_error_naming_the_command() {
    let t = Tools::new();
    let mut b = t.backend();
    let cases: Vec<(&str, &str, ToolCall)> = vec![
        ("is-leader", "yes", Box::new(|b| b.is_leader().map(drop))),
        (
            "config-get",
            "[1, 2]",
            Box::new(|b| b.config_get().map(drop)),
        ),
        (
            "relation-ids",
            r#"["backup"]"#,
            Box::new(|b| b.relation_ids("backup").map(drop)),
        ),
        (
            "relation-get",
            "{",
            Box::new(|b| b.relation_get(rel("db", 1), "x/0", false).map(drop)),
        ),
        (
            "relation-get",
            "[\"a\"]",
            Box::new(|b| b.relation_get(rel("db", 1), "x/0", false).map(drop)),
        ),
        (
            "status-get",
            r#"{"status": "confused"}"#,
            Box::new(|b| b.status_get(false).map(drop)),
        ),
        (
            "opened-ports",
            r#"["80/sctp"]"#,
            Box::new(|b| b.opened_ports().map(drop)),
        ),
        (
            "storage-list",
            r#"["data"]"#,
            Box::new(|b| b.storage_list(None).map(drop)),
        ),
        (
            "secret-info-get",
            "{}",
            Box::new(|b| b.secret_info_get(Some("secret:x"), None).map(drop)),
        ),
        (
            "resource-get",
            "",
            Box::new(|b| b.resource_get("tool").map(drop)),
        ),
        (
            "secret-add",
            "",
            Box::new(|b| b.secret_add(&SecretSpec::new([("abc", "v")])).map(drop)),
        ),
    ];
    for (tool, output, call) in cases {
        t.out(tool, output);
        match call(&mut b) {
            Err(e @ BackendError::Malformed { .. }) => {
                assert!(e.to_string().contains(tool), "{e} should name {tool}")
            }
            other => panic!("{tool} printing {output:?}: {other:?}"),
        }
    }
    // Secret content is never echoed, even when malformed.
    t.out("secret-get", r#"{"password": ["hunter2"]}"#);
    let err = b
        .secret_get(Some("secret:x"), None, SecretGet::Tracked)
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
