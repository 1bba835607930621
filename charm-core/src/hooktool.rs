//! The production backend: Juju's hook tools run as subprocesses, with the command lines ops
//! 3.x uses against Juju 3 (listed on each [`Backend`] method).
//!
//! Output is parsed as JSON where the tool offers it; a tool's failure is mapped from its exit
//! status and stderr to a typed [`BackendError`] (relation not found, permission denied, not
//! leader, secret not found, tool missing, anything else with its stderr). Secret content is
//! written to files in a private temporary directory and passed as `key#file=PATH`; relation
//! and state data go through stdin; so no secret reaches a command line.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::backend::{Backend, BackendError, GoalState, LogLevel, RelationRef, StorageInfo};
use crate::context::StorageId;
use crate::event::RelationId;
use crate::network::{Network, Port};
use crate::secret::{SecretGet, SecretInfo, SecretRotate, SecretSpec};
use crate::status::{Status, StatusName};

/// Runs hook tools found on `PATH`.
#[derive(Debug, Default)]
pub struct HookTools {
    calls: usize,
    /// `PATH` to find the tools on, instead of the process's.
    search_path: Option<std::ffi::OsString>,
}

/// Keeps secret files until the tool has run.
struct SecretFiles {
    _dir: Option<tempfile::TempDir>,
    args: Vec<String>,
}

fn py_bool(b: bool) -> &'static str {
    // ops passes Python's str(bool); Juju parses it with strconv.ParseBool.
    if b { "True" } else { "False" }
}

impl HookTools {
    /// Runs the tools found on the process's `PATH`, where Juju puts them for a hook.
    pub fn new() -> Self {
        HookTools::default()
    }

    /// Finds the tools on `path` (a `PATH`-style list) instead of the process's `PATH`; the
    /// tools also run with it. For tools and tests that run stand-in hook tools.
    pub fn with_search_path(path: impl Into<std::ffi::OsString>) -> Self {
        HookTools {
            calls: 0,
            search_path: Some(path.into()),
        }
    }

    /// How many tools have been run.
    pub fn calls(&self) -> usize {
        self.calls
    }

    fn run(
        &mut self,
        tool: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, BackendError> {
        self.calls += 1;
        let command = || {
            let mut c = tool.to_string();
            for a in args {
                c.push(' ');
                c.push_str(a);
            }
            c
        };
        let mut cmd = Command::new(tool);
        if let Some(path) = &self.search_path {
            cmd.env("PATH", path);
        }
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BackendError::ToolMissing {
                tool: tool.to_string(),
            },
            _ => BackendError::Spawn {
                tool: tool.to_string(),
                reason: e.to_string(),
            },
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // The tools read all of stdin before writing anything, so this cannot deadlock.
            pipe.write_all(input).map_err(|e| BackendError::Spawn {
                tool: tool.to_string(),
                reason: format!("writing stdin: {e}"),
            })?;
        }
        let output = child.wait_with_output().map_err(|e| BackendError::Spawn {
            tool: tool.to_string(),
            reason: e.to_string(),
        })?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let lower = stderr.to_lowercase();
        let relation = args
            .iter()
            .position(|a| *a == "-r")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.to_string());
        Err(if lower.contains("relation not found") {
            BackendError::RelationNotFound {
                relation: relation.unwrap_or_else(command),
                stderr,
            }
        } else if lower.contains("permission denied") {
            BackendError::PermissionDenied {
                command: command(),
                stderr,
            }
        } else if lower.contains("not the leader") || lower.contains("not leader") {
            BackendError::NotLeader {
                command: command(),
                stderr,
            }
        } else if tool.starts_with("secret-") && lower.contains("not found") {
            BackendError::SecretNotFound {
                secret: args
                    .iter()
                    .rfind(|a| a.starts_with("secret:") || !a.starts_with('-'))
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                stderr,
            }
        } else {
            BackendError::ToolFailed {
                command: command(),
                status: match output.status.code() {
                    Some(code) => format!("exit status {code}"),
                    None => "killed by a signal".to_string(),
                },
                stderr,
            }
        })
    }

    fn run_json<T: DeserializeOwned>(
        &mut self,
        tool: &str,
        args: &[&str],
    ) -> Result<T, BackendError> {
        let out = self.run(tool, args, None)?;
        parse_json(tool, args, &out)
    }

    /// `secret-grant` / `secret-revoke`: `--relation ID [--unit U] SECRET`.
    fn secret_access(
        &mut self,
        tool: &str,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError> {
        let rel = relation.to_string();
        let mut args = vec!["--relation", rel.as_str()];
        if let Some(u) = unit {
            args.extend(["--unit", u]);
        }
        args.push(id);
        self.run(tool, &args, None).map(drop)
    }

    fn secret_files(content: &BTreeMap<String, String>) -> Result<SecretFiles, BackendError> {
        if content.is_empty() {
            return Ok(SecretFiles {
                _dir: None,
                args: Vec::new(),
            });
        }
        let spawn_err = |e: std::io::Error| BackendError::Spawn {
            tool: "secret content".into(),
            reason: e.to_string(),
        };
        // tempfile creates the directory with mode 0700.
        let dir = tempfile::Builder::new()
            .prefix("charm-core-secret")
            .tempdir()
            .map_err(spawn_err)?;
        let mut args = Vec::new();
        for (key, value) in content {
            let path = dir.path().join(key);
            std::fs::write(&path, value).map_err(spawn_err)?;
            args.push(format!("{key}#file={}", path.display()));
        }
        Ok(SecretFiles {
            _dir: Some(dir),
            args,
        })
    }
}

fn parse_json<T: DeserializeOwned>(
    tool: &str,
    args: &[&str],
    out: &[u8],
) -> Result<T, BackendError> {
    serde_json::from_slice(out).map_err(|e| BackendError::Malformed {
        command: format!("{tool} {}", args.join(" ")),
        reason: e.to_string(),
        output: String::from_utf8_lossy(&out[..out.len().min(500)]).into_owned(),
    })
}

fn malformed(
    command: &str,
    reason: impl Into<String>,
    output: &impl std::fmt::Display,
) -> BackendError {
    BackendError::Malformed {
        command: command.to_string(),
        reason: reason.into(),
        output: output.to_string(),
    }
}

/// Keeps string values as they are and renders others as JSON (Juju's bags hold strings; a
/// `null` reads as a missing key).
fn string_map(command: &str, v: Value) -> Result<BTreeMap<String, String>, BackendError> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect()),
        other => Err(malformed(command, "expected a JSON object", &other)),
    }
}

fn spec_args(spec: &SecretSpec, args: &mut Vec<String>) {
    if let Some(l) = &spec.label {
        args.extend(["--label".into(), l.clone()]);
    }
    if let Some(d) = &spec.description {
        args.extend(["--description".into(), d.clone()]);
    }
    if let Some(e) = &spec.expire {
        args.extend(["--expire".into(), e.clone()]);
    }
    if let Some(r) = spec.rotate {
        args.extend(["--rotate".into(), r.as_str().into()]);
    }
}

impl Backend for HookTools {
    fn config_get(&mut self) -> Result<Map<String, Value>, BackendError> {
        let v: Value = self.run_json("config-get", &["--format=json"])?;
        match v {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            other => Err(malformed(
                "config-get --format=json",
                "expected a JSON object",
                &other,
            )),
        }
    }

    fn is_leader(&mut self) -> Result<bool, BackendError> {
        self.run_json("is-leader", &["--format=json"])
    }

    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        let args = [endpoint, "--format=json"];
        let ids: Option<Vec<String>> = self.run_json("relation-ids", &args)?;
        ids.unwrap_or_default()
            .into_iter()
            .map(|raw| {
                raw.rsplit(':')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .map(RelationId)
                    .ok_or_else(|| {
                        malformed(
                            &format!("relation-ids {endpoint} --format=json"),
                            "expected endpoint:number",
                            &raw,
                        )
                    })
            })
            .collect()
    }

    fn relation_list(&mut self, relation: RelationRef<'_>) -> Result<Vec<String>, BackendError> {
        let r = relation.to_string();
        let units: Option<Vec<String>> =
            self.run_json("relation-list", &["--format=json", "-r", &r])?;
        Ok(units.unwrap_or_default())
    }

    fn relation_remote_app(
        &mut self,
        relation: RelationRef<'_>,
    ) -> Result<Option<String>, BackendError> {
        let r = relation.to_string();
        let app: Option<String> =
            self.run_json("relation-list", &["--format=json", "-r", &r, "--app"])?;
        Ok(app.filter(|a| !a.is_empty()))
    }

    fn relation_get(
        &mut self,
        relation: RelationRef<'_>,
        member: &str,
        app: bool,
    ) -> Result<BTreeMap<String, String>, BackendError> {
        let r = relation.to_string();
        let mut args = vec!["--format=json", "-r", &r];
        if app {
            args.push("--app");
        }
        args.extend(["-", member]);
        let v: Value = self.run_json("relation-get", &args)?;
        string_map(&format!("relation-get {}", args.join(" ")), v)
    }

    fn relation_set(
        &mut self,
        relation: RelationRef<'_>,
        app: bool,
        changes: &BTreeMap<String, String>,
    ) -> Result<(), BackendError> {
        let r = relation.to_string();
        let mut args = vec!["-r", &r];
        if app {
            args.push("--app");
        }
        args.extend(["--file", "-"]);
        let input = serde_json::to_vec(changes).map_err(|e| BackendError::Spawn {
            tool: "relation-set".into(),
            reason: e.to_string(),
        })?;
        self.run("relation-set", &args, Some(&input)).map(drop)
    }

    fn status_get(&mut self, app: bool) -> Result<Option<Status>, BackendError> {
        let flag = format!("--application={}", py_bool(app));
        let args = ["--include-data", "--format=json", flag.as_str()];
        let v: Value = self.run_json("status-get", &args)?;
        let command = format!("status-get {}", args.join(" "));
        let inner = if app {
            v.get("application-status").cloned().unwrap_or(Value::Null)
        } else {
            v
        };
        let name = inner
            .get("status")
            .and_then(Value::as_str)
            .and_then(StatusName::parse)
            .ok_or_else(|| malformed(&command, "no known `status`", &inner))?;
        let message = inner
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Status::from_name(name, message))
    }

    fn status_set(&mut self, app: bool, status: &Status) -> Result<(), BackendError> {
        let flag = format!("--application={}", py_bool(app));
        let args = [
            flag.as_str(),
            status.name().as_str(),
            "--",
            status.message(),
        ];
        self.run("status-set", &args, None).map(drop)
    }

    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        self.run("application-version-set", &["--", version], None)
            .map(drop)
    }

    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        self.run(
            "juju-log",
            &["--log-level", level.as_str(), "--", message],
            None,
        )
        .map(drop)
    }

    fn action_get(&mut self) -> Result<Map<String, Value>, BackendError> {
        let v: Value = self.run_json("action-get", &["--format=json"])?;
        match v {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            other => Err(malformed(
                "action-get --format=json",
                "expected a JSON object",
                &other,
            )),
        }
    }

    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let pairs: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<&str> = pairs.iter().map(String::as_str).collect();
        self.run("action-set", &args, None).map(drop)
    }

    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        self.run("action-log", &["--", message], None).map(drop)
    }

    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        self.run("action-fail", &["--", message], None).map(drop)
    }

    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<Network, BackendError> {
        let id = relation.map(|r| r.to_string());
        let mut args = vec!["--format=json"];
        if let Some(id) = &id {
            args.extend(["-r", id.as_str()]);
        }
        args.push(binding);
        self.run_json("network-get", &args)
    }

    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        #[derive(serde::Deserialize)]
        struct Goal {
            status: String,
        }
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            units: Option<BTreeMap<String, Goal>>,
            #[serde(default)]
            relations: Option<BTreeMap<String, BTreeMap<String, Goal>>>,
        }
        let raw: Raw = self.run_json("goal-state", &["--format=json"])?;
        Ok(GoalState {
            units: raw
                .units
                .unwrap_or_default()
                .into_iter()
                .map(|(k, g)| (k, g.status))
                .collect(),
            relations: raw
                .relations
                .unwrap_or_default()
                .into_iter()
                .map(|(ep, m)| (ep, m.into_iter().map(|(k, g)| (k, g.status)).collect()))
                .collect(),
        })
    }

    fn resource_get(&mut self, name: &str) -> Result<PathBuf, BackendError> {
        let out = self.run("resource-get", &[name], None)?;
        let path = String::from_utf8_lossy(&out).trim().to_string();
        if path.is_empty() {
            return Err(malformed(
                &format!("resource-get {name}"),
                "no path",
                &"(empty)",
            ));
        }
        Ok(PathBuf::from(path))
    }

    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        let lines: Option<Vec<String>> = self.run_json("opened-ports", &["--format=json"])?;
        lines
            .unwrap_or_default()
            .iter()
            .map(|line| {
                // Juju may append the endpoints: `8080/tcp (website)`.
                let spec = line.split_whitespace().next().unwrap_or_default();
                spec.parse::<Port>()
                    .map_err(|reason| malformed("opened-ports --format=json", reason, line))
            })
            .collect()
    }

    fn open_port(&mut self, port: &Port) -> Result<(), BackendError> {
        self.run("open-port", &[&port.to_string()], None).map(drop)
    }

    fn close_port(&mut self, port: &Port) -> Result<(), BackendError> {
        self.run("close-port", &[&port.to_string()], None).map(drop)
    }

    fn secret_add(&mut self, spec: &SecretSpec) -> Result<String, BackendError> {
        let files = Self::secret_files(&spec.content)?;
        let mut args = Vec::new();
        spec_args(spec, &mut args);
        args.extend(["--owner".into(), spec.owner.as_str().into()]);
        args.extend(files.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run("secret-add", &args, None)?;
        let id = String::from_utf8_lossy(&out).trim().to_string();
        if id.is_empty() {
            return Err(malformed("secret-add", "no secret id printed", &"(empty)"));
        }
        Ok(id)
    }

    fn secret_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
        mode: SecretGet,
    ) -> Result<BTreeMap<String, String>, BackendError> {
        let mut args = vec!["--format=json"];
        if let Some(id) = id {
            args.push(id);
        }
        if let Some(label) = label {
            args.extend(["--label", label]);
        }
        match mode {
            SecretGet::Tracked => {}
            SecretGet::Refresh => args.push("--refresh"),
            SecretGet::Peek => args.push("--peek"),
        }
        let v: Value = self.run_json("secret-get", &args)?;
        // Never echo secret content in an error: only say what was wrong.
        match v {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    _ => Err(malformed(
                        "secret-get",
                        format!("value of `{k}` is not a string"),
                        &"(redacted)",
                    )),
                })
                .collect(),
            _ => Err(malformed(
                "secret-get",
                "expected a JSON object",
                &"(redacted)",
            )),
        }
    }

    fn secret_info_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
    ) -> Result<SecretInfo, BackendError> {
        let mut args = vec!["--format=json"];
        match (id, label) {
            (Some(id), _) => args.push(id),
            (None, Some(label)) => args.extend(["--label", label]),
            (None, None) => {}
        }
        let v: Map<String, Value> = self.run_json("secret-info-get", &args)?;
        let command = format!("secret-info-get {}", args.join(" "));
        let (id, data) = v
            .into_iter()
            .next()
            .ok_or_else(|| malformed(&command, "empty result", &"{}"))?;
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(String::from);
        Ok(SecretInfo {
            revision: data
                .get("revision")
                .and_then(Value::as_u64)
                .ok_or_else(|| malformed(&command, "no revision", &data))?,
            label: text("label"),
            description: text("description"),
            expiry: text("expiry"),
            rotation: text("rotation").and_then(|r| SecretRotate::parse(&r)),
            rotates: text("rotates"),
            id,
        })
    }

    fn secret_set(&mut self, id: &str, spec: &SecretSpec) -> Result<(), BackendError> {
        let files = Self::secret_files(&spec.content)?;
        let mut args = Vec::new();
        spec_args(spec, &mut args);
        args.push(id.to_string());
        args.extend(files.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("secret-set", &args, None).map(drop)
    }

    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError> {
        self.secret_access("secret-grant", id, relation, unit)
    }

    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&str>,
    ) -> Result<(), BackendError> {
        self.secret_access("secret-revoke", id, relation, unit)
    }

    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        let rev = revision.map(|r| r.to_string());
        let mut args = vec![id];
        if let Some(r) = &rev {
            args.extend(["--revision", r.as_str()]);
        }
        self.run("secret-remove", &args, None).map(drop)
    }

    fn storage_list(&mut self, name: Option<&str>) -> Result<Vec<StorageId>, BackendError> {
        let mut args = vec!["--format=json"];
        if let Some(n) = name {
            args.push(n);
        }
        let ids: Option<Vec<String>> = self.run_json("storage-list", &args)?;
        ids.unwrap_or_default()
            .into_iter()
            .map(|raw| {
                raw.parse()
                    .map_err(|reason: String| malformed("storage-list", reason, &raw))
            })
            .collect()
    }

    fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, BackendError> {
        let s = id.to_string();
        self.run_json("storage-get", &["--format=json", "-s", &s])
    }

    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        let v: Value = self.run_json("state-get", &["--format=json"])?;
        string_map("state-get --format=json", v)
    }

    fn state_set(&mut self, values: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let input = serde_json::to_vec(values).map_err(|e| BackendError::Spawn {
            tool: "state-set".into(),
            reason: e.to_string(),
        })?;
        self.run("state-set", &["--file", "-"], Some(&input))
            .map(drop)
    }

    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        self.run("state-delete", &[key], None).map(drop)
    }
}
