//! Running the demo charm as a real process against stand-in hook tools; shared by the
//! end-to-end test (`tests/dispatch.rs`) and the benchmark (`benches/hook.rs`).
//!
//! One binary plays every part, chosen by how it is started: as `config-get`, `relation-set`,
//! ... (symlinks to itself) it is a stand-in hook tool; with `CHARM_CORE_TEST_ROLE=charm` it
//! is the demo charm; otherwise it is the driver.

#![allow(dead_code)] // Each user needs a different part.

use std::ffi::OsString;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};

/// Every hook tool charm-core runs.
pub const TOOLS: &[&str] = &[
    "config-get",
    "is-leader",
    "relation-ids",
    "relation-list",
    "relation-get",
    "relation-set",
    "status-get",
    "status-set",
    "application-version-set",
    "juju-log",
    "action-get",
    "action-set",
    "action-log",
    "action-fail",
    "network-get",
    "goal-state",
    "resource-get",
    "opened-ports",
    "open-port",
    "close-port",
    "secret-add",
    "secret-get",
    "secret-info-get",
    "secret-set",
    "secret-grant",
    "secret-revoke",
    "secret-remove",
    "storage-list",
    "storage-get",
    "state-get",
    "state-set",
    "state-delete",
];

/// The part this process plays, if it is not the driver: `Some(exit code)` when it ran as a
/// stand-in tool or as the charm.
pub fn play_part(charm: fn() -> ExitCode) -> Option<ExitCode> {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if TOOLS.contains(&name.as_str()) {
        return Some(standin(&name));
    }
    if std::env::var_os("CHARM_CORE_TEST_ROLE").is_some_and(|r| r == "charm") {
        return Some(charm());
    }
    None
}

/// A stand-in hook tool: appends its argv (a JSON array) to `$STANDIN_DIR/calls.log`, keeps
/// its stdin in `<tool>.stdin`, writes `<tool>.err` to stderr, prints `<tool>.out` and exits
/// with `<tool>.code` (default 0).
fn standin(tool: &str) -> ExitCode {
    let Some(dir) = std::env::var_os("STANDIN_DIR").map(PathBuf::from) else {
        eprintln!("{tool}: STANDIN_DIR is not set");
        return ExitCode::FAILURE;
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut line =
        serde_json::to_string(&[vec![tool.to_string()], argv].concat()).unwrap_or_default();
    line.push('\n');
    let logged = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.log"))
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = logged {
        eprintln!("{tool}: cannot record the call: {e}");
        return ExitCode::FAILURE;
    }
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_ok() && !input.is_empty() {
        let _ = fs::write(dir.join(format!("{tool}.stdin")), &input);
    }
    if let Ok(err) = fs::read(dir.join(format!("{tool}.err"))) {
        let _ = std::io::stderr().write_all(&err);
    }
    if let Ok(out) = fs::read(dir.join(format!("{tool}.out"))) {
        let _ = std::io::stdout().write_all(&out);
    }
    let code: u8 = fs::read_to_string(dir.join(format!("{tool}.code")))
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    ExitCode::from(code)
}

/// A charm directory holding the demo charm's metadata, and a directory of stand-in tools.
pub struct Setup {
    _tmp: tempfile::TempDir,
    pub charm_dir: PathBuf,
    pub tools_dir: PathBuf,
    path: OsString,
}

impl Setup {
    pub fn new() -> Result<Setup, String> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let charm_dir = tmp.path().join("charm");
        let tools_dir = tmp.path().join("tools");
        fs::create_dir_all(&charm_dir).map_err(|e| e.to_string())?;
        fs::create_dir_all(&tools_dir).map_err(|e| e.to_string())?;
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-charm");
        for f in ["metadata.yaml", "config.yaml", "actions.yaml"] {
            fs::copy(src.join(f), charm_dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        for t in TOOLS {
            std::os::unix::fs::symlink(&exe, tools_dir.join(t)).map_err(|e| e.to_string())?;
        }
        let mut path = tools_dir.clone().into_os_string();
        path.push(":/usr/bin:/bin");
        Ok(Setup {
            _tmp: tmp,
            charm_dir,
            tools_dir,
            path,
        })
    }

    /// What `tool` prints.
    pub fn canned(&self, tool: &str, out: &str) {
        let _ = fs::write(self.tools_dir.join(format!("{tool}.out")), out);
    }

    /// Makes `tool` fail with `code` and `stderr`.
    pub fn failing(&self, tool: &str, code: u8, stderr: &str) {
        let _ = fs::write(
            self.tools_dir.join(format!("{tool}.code")),
            code.to_string(),
        );
        let _ = fs::write(self.tools_dir.join(format!("{tool}.err")), stderr);
    }

    /// Removes `tool` from the tools directory.
    pub fn remove_tool(&self, tool: &str) {
        let _ = fs::remove_file(self.tools_dir.join(tool));
    }

    /// The demo charm as Juju would start it for `dispatch_path`.
    pub fn command(&self, program: &Path, dispatch_path: &str) -> Command {
        let hook = dispatch_path
            .strip_prefix("hooks/")
            .unwrap_or_default()
            .to_string();
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", &self.path)
            .env("STANDIN_DIR", &self.tools_dir)
            .env("CHARM_CORE_TEST_ROLE", "charm")
            .env("JUJU_DISPATCH_PATH", dispatch_path)
            .env("JUJU_HOOK_NAME", hook)
            .env("JUJU_UNIT_NAME", "demo/0")
            .env("JUJU_MODEL_NAME", "test")
            .env("JUJU_MODEL_UUID", "00000000-0000-4000-8000-000000000000")
            .env("JUJU_VERSION", "3.6.4")
            .env("JUJU_CHARM_DIR", &self.charm_dir)
            .current_dir(&self.charm_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs the charm (this executable in the charm role) for `dispatch_path`.
    pub fn run(&self, dispatch_path: &str, extra_env: &[(&str, &str)]) -> Output {
        let exe = std::env::current_exe().unwrap_or_default();
        let mut c = self.command(&exe, dispatch_path);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        match c.output() {
            Ok(o) => o,
            Err(e) => panic!("cannot start the charm: {e}"),
        }
    }

    /// Every tool call since the last reset, as argv.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let text = fs::read_to_string(self.tools_dir.join("calls.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Calls other than `juju-log`.
    pub fn tool_calls(&self) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c[0] != "juju-log")
            .collect()
    }

    /// `juju-log` calls as (level, message).
    pub fn logs(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter(|c| c[0] == "juju-log" && c.len() == 5)
            .map(|c| (c[2].clone(), c[4].clone()))
            .collect()
    }

    pub fn stdin_of(&self, tool: &str) -> String {
        fs::read_to_string(self.tools_dir.join(format!("{tool}.stdin"))).unwrap_or_default()
    }

    pub fn reset_calls(&self) {
        let _ = fs::remove_file(self.tools_dir.join("calls.log"));
    }

    /// Forgets the charm's stored state (as a Kubernetes pod recreation would).
    pub fn forget_state(&self) {
        let _ = fs::remove_file(self.charm_dir.join(charm_core::state::STATE_FILE));
    }

    /// The canned answers of the demo scenario: leader, fileset configured, one backup
    /// relation whose app bag holds an older fileset.
    pub fn demo_scenario(&self) {
        self.canned(
            "config-get",
            r#"{"fileset": "/etc,/srv", "verbose": false}"#,
        );
        self.canned("is-leader", "true");
        self.canned("relation-ids", r#"["backup:1"]"#);
        self.canned("relation-get", r#"{"fileset": "/etc"}"#);
    }
}

/// The calls the demo charm makes for config-changed in [`Setup::demo_scenario`].
pub fn expected_demo_calls() -> Vec<Vec<String>> {
    [
        vec!["config-get", "--format=json"],
        vec!["relation-ids", "backup", "--format=json"],
        vec!["is-leader", "--format=json"],
        vec![
            "relation-get",
            "--format=json",
            "-r",
            "backup:1",
            "--app",
            "-",
            "demo",
        ],
        vec!["relation-set", "-r", "backup:1", "--app", "--file", "-"],
        vec!["status-set", "--application=False", "active", "--", ""],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect()
}
