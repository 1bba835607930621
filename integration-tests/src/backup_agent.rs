//! `backup-agent`, a test charm standing in for bacula-fd: the provider side of the `backup`
//! relation, written with the proto contract (`proto::backup::v1`) and charm-core's
//! [`read_remote`], as a real provider would be.
//!
//! On every hook it reads each requirer's application bag, checks that every script it names
//! is a file on this machine that the agent could run (executable, starting with `#!`), and
//! records what it read in [`REQUESTS_FILE`] in its charm directory, so tests see the
//! requests as the provider decoded them, not only as raw bags. Its status:
//! - Waiting `no backup requests` without a `backup` relation;
//! - the contract's Waiting (`waiting for backup relation data`) or Blocked
//!   (`invalid backup relation data: <keys>`) for a requirer that wrote nothing or nonsense;
//! - Blocked `cannot run <path>: <why>` for a script it could not run;
//! - Active `backing up <n> path(s) for <apps>` otherwise.
//!
//! The provider writes nothing to the relation, as the contract says.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use charm_core::contract::read_remote;
use charm_core::{Charm, CharmError, Model, Status};
use proto::backup::v1::BackupRequirerData;
use serde::{Deserialize, Serialize};

/// The endpoint the agent provides.
pub const ENDPOINT: &str = "backup";

/// What the agent read, in its charm directory: JSON of [`Requests`].
pub const REQUESTS_FILE: &str = "backup-requests.json";

/// Every valid request, by requirer application.
pub type Requests = BTreeMap<String, Request>;

/// One requirer's request, as decoded by the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub relation: u64,
    pub fileset: Vec<String>,
    /// Bag key (`run-before-backup`, ...) to the script as found on this machine.
    pub scripts: BTreeMap<String, Script>,
}

/// A script named by a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    pub path: String,
    /// The file's content, when it could be read.
    pub content: Option<String>,
    /// Why the agent could not run it, if it could not.
    pub problem: Option<String>,
}

/// Reads [`REQUESTS_FILE`] from a unit's charm directory (`None` before the first hook).
pub fn read_requests(charm_dir: &Path) -> Result<Option<Requests>, std::io::Error> {
    let path = charm_dir.join(REQUESTS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The charm.
#[derive(Debug, Default)]
pub struct BackupAgent;

impl Charm for BackupAgent {
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let mut requests = Requests::new();
        let mut status = None;
        for relation in model.relations(ENDPOINT)? {
            let data = match read_remote::<BackupRequirerData>(&relation) {
                Ok(data) => data,
                Err(e) => {
                    status = status.or(Some(e.status().ok_or(e)?));
                    continue;
                }
            };
            let Some(app) = relation.remote_app()? else {
                continue;
            };
            let mut scripts = BTreeMap::new();
            for (key, path) in data.scripts() {
                if let Some(path) = path {
                    let script = inspect(path);
                    if let Some(problem) = &script.problem {
                        status = status.or(Some(Status::blocked(format!(
                            "cannot run {path}: {problem}"
                        ))));
                    }
                    scripts.insert(key.to_owned(), script);
                }
            }
            requests.insert(
                app,
                Request {
                    relation: relation.id().0,
                    fileset: data.fileset,
                    scripts,
                },
            );
        }
        write_atomically(model.charm_dir(), &requests)?;
        let status = status.unwrap_or_else(|| {
            if requests.is_empty() {
                Status::waiting("no backup requests")
            } else {
                let paths: usize = requests.values().map(|r| r.fileset.len()).sum();
                let apps: Vec<&str> = requests.keys().map(String::as_str).collect();
                Status::active(format!(
                    "backing up {paths} path(s) for {}",
                    apps.join(", ")
                ))
            }
        });
        model.add_status(status);
        Ok(())
    }
}

/// What the agent would find when it runs `path` before or after a backup.
fn inspect(path: &str) -> Script {
    let mut script = Script {
        path: path.to_owned(),
        content: None,
        problem: None,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            script.problem = Some(e.to_string());
            return script;
        }
    };
    let mut content = String::new();
    let mode = file.metadata().map(|m| m.permissions().mode());
    if let Err(e) = file.read_to_string(&mut content) {
        script.problem = Some(e.to_string());
        return script;
    }
    script.problem = match mode {
        Err(e) => Some(e.to_string()),
        Ok(mode) if mode & 0o111 == 0 => Some(format!("not executable (mode {:o})", mode & 0o7777)),
        Ok(_) if !content.starts_with("#!") => Some("does not start with #!".to_owned()),
        Ok(_) => None,
    };
    script.content = Some(content);
    script
}

fn write_atomically(dir: &Path, requests: &Requests) -> Result<(), CharmError> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&serde_json::to_vec_pretty(requests)?)?;
    file.persist(dir.join(REQUESTS_FILE))?;
    Ok(())
}
