//! The hook tools: one multi-call executable that acts as the tool it is invoked as
//! (`relation-get`, `status-set`, ...), against the state file named by `JUJU_SIM_STATE`.
//!
//! Each tool follows the command forms of Juju 3.6's `jujuc` (flags, argument checks, output
//! formats and error wording, looked up in juju/juju `worker/uniter/runner/jujuc`): a usage
//! error prints `ERROR <message>` and exits 2, a refused operation exits 1. The context of the
//! running hook (relation, remote unit, action) comes from the state, keyed by
//! `JUJU_CONTEXT_ID`, not from variables the charm could have changed, as with Juju's agent.
//!
//! Tools run under the state file lock and are atomic: a failing tool changes nothing.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::state::{HookContext, ModelState};
use crate::store::{Store, StoreError};

mod action;
mod charm_state;
mod config;
pub(crate) mod flags;
pub(crate) mod format;
mod network;
mod ports;
mod relation;
mod secret;
mod status;
mod storage;

use flags::{Flag, Parsed};
use format::{Formats, Out};
pub(crate) use secret::{new_secret_id, parse_secret_uri};

/// The environment variable naming the simulator's state file.
pub const STATE_ENV: &str = "JUJU_SIM_STATE";

/// Why a tool failed; the exit code follows juju/cmd: 2 for usage errors (flags, arguments),
/// 1 for everything refused while running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    /// `--help` was given: print this and exit 0.
    #[error("{0}")]
    Help(String),
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        ToolError::Failed(e.to_string())
    }
}

impl ToolError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ToolError::Usage(_) => 2,
            ToolError::Failed(_) => 1,
            ToolError::Help(_) => 0,
        }
    }
}

pub(crate) fn failed(message: impl Into<String>) -> ToolError {
    ToolError::Failed(message.into())
}

pub(crate) fn usage(message: impl Into<String>) -> ToolError {
    ToolError::Usage(message.into())
}

type ToolFn = fn(&mut Call<'_>) -> Result<(), ToolError>;

/// Every tool the simulator provides, by the name it is installed as.
const TOOLS: &[(&str, ToolFn)] = &[
    ("action-fail", action::action_fail),
    ("action-get", action::action_get),
    ("action-log", action::action_log),
    ("action-set", action::action_set),
    ("application-version-set", status::application_version_set),
    ("close-port", ports::close_port),
    ("config-get", config::config_get),
    ("goal-state", network::goal_state),
    ("is-leader", status::is_leader),
    ("juju-log", status::juju_log),
    ("network-get", network::network_get),
    ("open-port", ports::open_port),
    ("opened-ports", ports::opened_ports),
    ("relation-get", relation::relation_get),
    ("relation-ids", relation::relation_ids),
    ("relation-list", relation::relation_list),
    ("relation-set", relation::relation_set),
    ("resource-get", config::resource_get),
    ("secret-add", secret::secret_add),
    ("secret-get", secret::secret_get),
    ("secret-grant", secret::secret_grant),
    ("secret-ids", secret::secret_ids),
    ("secret-info-get", secret::secret_info_get),
    ("secret-remove", secret::secret_remove),
    ("secret-revoke", secret::secret_revoke),
    ("secret-set", secret::secret_set),
    ("state-delete", charm_state::state_delete),
    ("state-get", charm_state::state_get),
    ("state-set", charm_state::state_set),
    ("status-get", status::status_get),
    ("status-set", status::status_set),
    ("storage-add", storage::storage_add),
    ("storage-get", storage::storage_get),
    ("storage-list", storage::storage_list),
    ("unit-get", network::unit_get),
];

/// The names to install the simulator binary as.
pub fn tool_names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|(name, _)| *name)
}

/// One tool invocation: its arguments, the model under lock, and its output buffers.
pub(crate) struct Call<'a> {
    pub name: &'a str,
    pub args: Vec<String>,
    pub state: &'a mut ModelState,
    pub ctx: HookContext,
    pub cwd: PathBuf,
    pub stdin: &'a mut dyn Read,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Call<'_> {
    /// Parses the arguments; `--help` becomes [`ToolError::Help`].
    pub fn parse(&self, flags: &[Flag]) -> Result<Parsed, ToolError> {
        let parsed = flags::parse(flags, &self.args)?;
        if parsed.help {
            let names: Vec<String> = flags
                .iter()
                .map(|f| {
                    f.names
                        .iter()
                        .map(|n| {
                            if n.len() > 1 {
                                format!("--{n}")
                            } else {
                                format!("-{n}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            return Err(ToolError::Help(format!(
                "Usage: {} [options]\n\nOptions:\n{}\n",
                self.name,
                names.iter().map(|n| format!("{n}\n")).collect::<String>()
            )));
        }
        Ok(parsed)
    }

    /// Writes `value` in the chosen format, to `-o FILE` when given.
    pub fn write(
        &mut self,
        parsed: &Parsed,
        formats: Formats,
        value: Out,
    ) -> Result<(), ToolError> {
        let format = formats.chosen(parsed)?;
        let bytes = format::render(format, &value)?;
        match parsed.string("o") {
            Some(path) => {
                let path = self.cwd.join(path);
                std::fs::write(&path, bytes)
                    .map_err(|e| failed(format!("open {}: {e}", path.display())))
            }
            None => {
                self.stdout.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    pub fn unit(&self) -> &str {
        &self.ctx.unit
    }

    pub fn app(&self) -> &str {
        ModelState::app_of_unit(&self.ctx.unit)
    }

    pub fn is_leader(&self) -> bool {
        self.state.is_leader(&self.ctx.unit)
    }

    /// The unit's application.
    pub fn app_state(&self) -> Result<&crate::state::AppState, ToolError> {
        self.state.apps.get(self.app()).ok_or_else(|| {
            failed(format!(
                "application {} not found",
                flags::go_quote(self.app())
            ))
        })
    }

    /// Reads a `--file` argument: `-` is stdin, other paths are relative to the cwd.
    pub fn read_file_arg(&mut self, path: &str) -> Result<Vec<u8>, ToolError> {
        if path == "-" {
            let mut buf = Vec::new();
            self.stdin
                .read_to_end(&mut buf)
                .map_err(|e| failed(format!("read stdin: {e}")))?;
            return Ok(buf);
        }
        let full = self.cwd.join(path);
        std::fs::read(&full).map_err(|e| failed(format!("open {}: {e}", full.display())))
    }

    /// The `--format` deprecation notice some tools print (without a newline, as Juju does).
    pub fn deprecated_format(&mut self, parsed: &Parsed) {
        if parsed.value("format").is_some() {
            let _ = write!(
                self.stderr,
                "--format flag deprecated for command {}",
                flags::go_quote(self.name)
            );
        }
    }
}

/// Juju's `keyvalues.Parse(args, true)`: `key=value` pairs, values trimmed, no duplicates.
pub(crate) fn parse_key_values(
    args: &[String],
) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    let mut out = std::collections::BTreeMap::new();
    for kv in args {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(usage(format!(
                "expected \"key=value\", got {}",
                flags::go_quote(kv)
            )));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(usage(format!(
                "expected \"key=value\", got {}",
                flags::go_quote(&format!("{k}={v}"))
            )));
        }
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(usage(format!(
                "key {} specified more than once",
                flags::go_quote(k)
            )));
        }
    }
    Ok(out)
}

/// Parses a YAML mapping of strings the way Go's yaml.v2 does into `map[string]string`:
/// scalars keep their text, null becomes empty, nested structures are refused.
pub(crate) fn parse_yaml_settings(
    bytes: &[u8],
) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    use serde_yaml::Value as Y;
    let value: Y = serde_yaml::from_slice(bytes).map_err(|e| failed(format!("yaml: {e}")))?;
    let mapping = match value {
        Y::Null => return Ok(Default::default()),
        Y::Mapping(m) => m,
        Y::Sequence(_) => {
            return Err(failed(
                "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into map[string]string",
            ));
        }
        _ => {
            return Err(failed(
                "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str into map[string]string",
            ));
        }
    };
    let scalar = |v: &Y| -> Result<String, ToolError> {
        match v {
            Y::Null => Ok(String::new()),
            Y::Bool(b) => Ok(b.to_string()),
            Y::Number(n) => Ok(n.to_string()),
            Y::String(s) => Ok(s.clone()),
            Y::Sequence(_) => Err(failed(
                "yaml: unmarshal errors:\n  cannot unmarshal !!seq into string",
            )),
            Y::Mapping(_) => Err(failed(
                "yaml: unmarshal errors:\n  cannot unmarshal !!map into string",
            )),
            Y::Tagged(t) => Err(failed(format!(
                "yaml: unmarshal errors:\n  cannot unmarshal {} into string",
                t.tag
            ))),
        }
    };
    mapping
        .iter()
        .map(|(k, v)| Ok((scalar(k)?, scalar(v)?)))
        .collect()
}

/// Juju's application name rule (`names.IsValidApplication`).
pub(crate) fn valid_app_name(name: &str) -> bool {
    // ^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$
    let mut parts = name.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let starts_lower = first.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let alnum = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    starts_lower
        && alnum(first)
        && parts.all(|p| alnum(p) && p.chars().any(|c| c.is_ascii_lowercase()))
}

/// Juju's unit name rule (`names.IsValidUnit`): `app/N` without leading zeros.
pub(crate) fn valid_unit_name(name: &str) -> bool {
    let Some((app, num)) = name.split_once('/') else {
        return false;
    };
    valid_app_name(app)
        && !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit())
        && (num == "0" || !num.starts_with('0'))
}

/// Runs one invocation; returns the exit code. `argv[0]` names the tool (or `juju-sim TOOL`).
pub fn main(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let mut argv = argv.into_iter();
    let program = argv.next().unwrap_or_default();
    let mut name = Path::new(&program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rest: Vec<OsString> = argv.collect();
    if !TOOLS.iter().any(|(n, _)| *n == name) && !rest.is_empty() {
        name = rest.remove(0).to_string_lossy().into_owned();
    }
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    let outcome = invoke(&name, rest, &mut io::stdin().lock());
    let (out, err, code) = match outcome {
        Ok(Output { stdout, stderr }) => (stdout, stderr, 0),
        Err(Failure {
            error: ToolError::Help(text),
            ..
        }) => (text.into_bytes(), Vec::new(), 0),
        Err(Failure { error, mut stderr }) => {
            stderr.extend_from_slice(format!("ERROR {error}\n").as_bytes());
            (Vec::new(), stderr, error.exit_code())
        }
    };
    let _ = stdout.write_all(&out);
    let _ = stderr.write_all(&err);
    let _ = stdout.flush();
    code
}

/// What a successful tool printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A failed tool: the error and whatever it wrote to stderr before failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: ToolError,
    pub stderr: Vec<u8>,
}

impl From<ToolError> for Failure {
    fn from(error: ToolError) -> Self {
        Failure {
            error,
            stderr: Vec::new(),
        }
    }
}

/// Runs tool `name` with `args` against the state named by `JUJU_SIM_STATE`.
pub fn invoke(name: &str, args: Vec<OsString>, stdin: &mut dyn Read) -> Result<Output, Failure> {
    let Some((_, tool)) = TOOLS.iter().find(|(n, _)| *n == name) else {
        return Err(usage(format!("unknown hook tool {}", flags::go_quote(name))).into());
    };
    let args = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(state_file) = std::env::var_os(STATE_ENV) else {
        return Err(failed(format!(
            "{STATE_ENV} not set: {name} only works inside a hook run by the simulator"
        ))
        .into());
    };
    let context_id = std::env::var("JUJU_CONTEXT_ID").unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let store = Store::open(Path::new(&state_file));
    let mut stderr_on_error = Vec::new();
    let result = store.update(|state| {
        let ctx = match &state.hook {
            Some(ctx) if !context_id.is_empty() && ctx.id == context_id => ctx.clone(),
            _ if context_id.is_empty() => return Err(failed("JUJU_CONTEXT_ID not set")),
            _ => {
                return Err(failed(format!(
                    "bad request: unknown context {}",
                    flags::go_quote(&context_id)
                )));
            }
        };
        let mut call = Call {
            name,
            args,
            state,
            ctx,
            cwd,
            stdin,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        match tool(&mut call) {
            Ok(()) => Ok(Output {
                stdout: call.stdout,
                stderr: call.stderr,
            }),
            Err(e) => {
                stderr_on_error = call.stderr;
                Err(e)
            }
        }
    });
    result.map_err(|error| Failure {
        error,
        stderr: stderr_on_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_juju_rules() {
        for ok in ["a", "backup-integrator", "a1-b2c", "x-1a"] {
            assert!(valid_app_name(ok), "{ok}");
        }
        for bad in ["", "1a", "A", "a-", "a--b", "a-1", "a_b"] {
            assert!(!valid_app_name(bad), "{bad}");
        }
        assert!(valid_unit_name("a/0") && valid_unit_name("a-b/12"));
        for bad in ["a", "a/", "a/01", "a/x", "1/0"] {
            assert!(!valid_unit_name(bad), "{bad}");
        }
    }

    #[test]
    fn key_values_are_trimmed_and_unique() {
        let kv =
            |a: &[&str]| parse_key_values(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            kv(&["a= 1 ", "b="]).unwrap(),
            [("a".to_string(), "1".to_string()), ("b".into(), "".into())].into()
        );
        assert_eq!(
            kv(&["a"]).unwrap_err(),
            usage("expected \"key=value\", got \"a\"")
        );
        assert_eq!(
            kv(&["a=1", "a=2"]).unwrap_err(),
            usage("key \"a\" specified more than once")
        );
        assert_eq!(
            kv(&["=1"]).unwrap_err(),
            usage("expected \"key=value\", got \"=1\"")
        );
    }

    #[test]
    fn yaml_settings_take_scalar_text() {
        let s = parse_yaml_settings(b"a: 1\nb: true\nc:\nd: text\n").unwrap();
        assert_eq!(s["a"], "1");
        assert_eq!(s["b"], "true");
        assert_eq!(s["c"], "");
        assert_eq!(s["d"], "text");
        assert!(parse_yaml_settings(b"{\"k\": \"v\"}").is_ok());
        assert!(parse_yaml_settings(b"a: {b: c}").is_err());
        assert!(parse_yaml_settings(b"- a").is_err());
        assert!(parse_yaml_settings(b"").unwrap().is_empty());
    }
}
