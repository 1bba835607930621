//! A workload container as state-transition tests declare it: whether Pebble answers, its
//! layers, files, service statuses, checks, notices and simulated commands. The harness starts
//! a [`FakePebble`] from it before the hook ([`ContainerState::start`]) and reads the result
//! back after ([`ContainerState::read_back`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use super::FakePebble;
use super::exec::ExecResult;
use crate::pebble::layer::Layer;
use crate::pebble::plan::Plan;
use crate::pebble::{Change, CheckStatus, NoticeType, Result, ServiceStatus};

/// A check's status as a test sets or reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    /// Up, down or inactive.
    pub status: CheckStatus,
    /// Failures in a row.
    pub failures: u32,
}

/// A notice as a test declares or reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeState {
    /// Its id. Ignored on input: the fake numbers declared notices 1, 2, ... in order, which
    /// is the id a `pebble-custom-notice` event for the n-th notice must carry.
    pub id: String,
    /// Its type.
    pub notice_type: NoticeType,
    /// Its key.
    pub key: String,
    /// Data of the last occurrence.
    pub data: BTreeMap<String, String>,
    /// How many times it occurred (ignored on input).
    pub occurrences: u64,
}

/// A simulated command: every exec whose command starts with `prefix` gets `result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMock {
    /// Command prefix, e.g. `["kubectl", "apply"]`.
    pub prefix: Vec<String>,
    /// Exit code and output.
    pub result: ExecResult,
}

/// The state of one workload container around a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerState {
    /// Whether Pebble answers; when false no socket exists and every call fails with
    /// a connection error.
    pub can_connect: bool,
    /// Layers by label, in order.
    pub layers: Vec<(String, Layer)>,
    /// Status of services (services of the plan not listed are inactive).
    pub service_statuses: BTreeMap<String, ServiceStatus>,
    /// Regular files: container path -> content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Directories (parents of files are implied on input; all are listed on output).
    pub dirs: BTreeSet<String>,
    /// Check statuses (checks of the plan not listed are up).
    pub checks: BTreeMap<String, CheckState>,
    /// Notices, oldest first.
    pub notices: Vec<NoticeState>,
    /// Simulated commands.
    pub execs: Vec<ExecMock>,
    /// Output: the changes Pebble recorded during the hook (`replan`, `start`, `restart`,
    /// `exec` ...), oldest first, so a test can tell that nothing was restarted. Ignored on
    /// input.
    pub changes: Vec<Change>,
}

impl Default for ContainerState {
    fn default() -> Self {
        Self {
            can_connect: true,
            layers: Vec::new(),
            service_statuses: BTreeMap::new(),
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            checks: BTreeMap::new(),
            notices: Vec::new(),
            execs: Vec::new(),
            changes: Vec::new(),
        }
    }
}

impl ContainerState {
    /// A container whose Pebble answers, with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A container whose Pebble is not up yet.
    pub fn unreachable() -> Self {
        Self {
            can_connect: false,
            ..Self::default()
        }
    }

    /// Adds a layer.
    pub fn with_layer(mut self, label: &str, layer: Layer) -> Self {
        self.layers.push((label.to_string(), layer));
        self
    }

    /// Sets a service's status.
    pub fn with_service_status(mut self, name: &str, status: ServiceStatus) -> Self {
        self.service_statuses.insert(name.to_string(), status);
        self
    }

    /// Adds a file.
    pub fn with_file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.files.insert(path.to_string(), content.into());
        self
    }

    /// Sets a check's status.
    pub fn with_check(mut self, name: &str, status: CheckStatus, failures: u32) -> Self {
        self.checks
            .insert(name.to_string(), CheckState { status, failures });
        self
    }

    /// Adds a notice.
    pub fn with_notice(
        mut self,
        notice_type: NoticeType,
        key: &str,
        data: BTreeMap<String, String>,
    ) -> Self {
        self.notices.push(NoticeState {
            id: String::new(),
            notice_type,
            key: key.to_string(),
            data,
            occurrences: 1,
        });
        self
    }

    /// Simulates a command.
    pub fn with_exec<S: Into<String>>(
        mut self,
        prefix: impl IntoIterator<Item = S>,
        result: ExecResult,
    ) -> Self {
        self.execs.push(ExecMock {
            prefix: prefix.into_iter().map(Into::into).collect(),
            result,
        });
        self
    }

    /// The plan Pebble computes from the layers.
    pub fn plan(&self) -> Result<Plan> {
        Plan::from_layers(
            self.layers
                .iter()
                .map(|(label, layer)| (label.as_str(), layer)),
        )
    }

    /// Starts a fake Pebble at `socket` holding this state (on its own runtime thread, see
    /// [`FakePebble::start_background`]); `None` when the container cannot connect.
    pub fn start(&self, socket: &Path) -> io::Result<Option<FakePebble>> {
        if !self.can_connect {
            return Ok(None);
        }
        let fake = FakePebble::start_background(socket)?;
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        for (label, layer) in &self.layers {
            fake.add_layer(label, layer.clone())
                .map_err(|e| invalid(format!("layer {label:?}: {e}")))?;
        }
        for (name, status) in &self.service_statuses {
            fake.set_service_status(name, status.clone());
        }
        for (name, check) in &self.checks {
            if !fake.set_check(name, check.status.clone(), check.failures) {
                return Err(invalid(format!("check {name:?} is not in the plan")));
            }
        }
        for dir in &self.dirs {
            std::fs::create_dir_all(fake.host_path(dir))?;
        }
        for (path, content) in &self.files {
            if !path.starts_with('/') {
                return Err(invalid(format!("file path {path:?} is not absolute")));
            }
            let host = fake.host_path(path);
            if let Some(parent) = host.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&host, content)?;
        }
        for notice in &self.notices {
            fake.add_notice(notice.notice_type.clone(), &notice.key, notice.data.clone());
        }
        for mock in &self.execs {
            let result = mock.result.clone();
            fake.on_exec(mock.prefix.clone(), move |_| result.clone());
        }
        Ok(Some(fake))
    }

    /// This state updated with what the charm did to `fake` during the hook.
    pub fn read_back(&self, fake: Option<&FakePebble>) -> io::Result<ContainerState> {
        let Some(fake) = fake else {
            return Ok(self.clone());
        };
        let (layers, service_statuses, checks, notices, changes) = fake.with_state(|s| {
            let statuses = s
                .services
                .iter()
                .map(|(name, st)| (name.clone(), st.current.clone()))
                .collect();
            let checks = s
                .checks
                .iter()
                .map(|(name, c)| {
                    let state = CheckState {
                        status: c.status.clone(),
                        failures: c.failures,
                    };
                    (name.clone(), state)
                })
                .collect();
            let notices = s
                .notices
                .iter()
                .map(|n| NoticeState {
                    id: n.id.to_string(),
                    notice_type: n.notice_type.clone(),
                    key: n.key.clone(),
                    data: n.last_data.clone(),
                    occurrences: n.occurrences,
                })
                .collect();
            let changes: Vec<serde_json::Value> =
                s.changes.values().map(|c| c.info.clone()).collect();
            (s.layers.clone(), statuses, checks, notices, changes)
        });
        let changes = changes
            .into_iter()
            .map(serde_json::from_value)
            .collect::<serde_json::Result<Vec<Change>>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("change: {e}")))?;
        let mut files = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        walk(fake.root(), "", &mut files, &mut dirs)?;
        Ok(ContainerState {
            can_connect: true,
            layers,
            service_statuses,
            files,
            dirs,
            checks,
            notices,
            execs: self.execs.clone(),
            changes,
        })
    }
}

/// Collects regular files and directories under `host` as container paths.
fn walk(
    host: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    dirs: &mut BTreeSet<String>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(host)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}/{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            dirs.insert(path.clone());
            walk(&entry.path(), &path, files, dirs)?;
        } else if kind.is_file() && !name.ends_with(".pebble-fake-tmp") {
            files.insert(path, std::fs::read(entry.path())?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pebble::{Client, PushOptions, Service, Startup};

    #[test]
    fn a_declared_container_is_served_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("web/pebble.socket");
        let layer = Layer::new().with_service(
            "web",
            Service::new("/bin/web").with_startup(Startup::Enabled),
        );
        let input = ContainerState::new()
            .with_layer("base", layer)
            .with_file("/etc/web.conf", "port: 80")
            .with_exec(["true"], ExecResult::default());
        let fake = input.start(&socket).unwrap();

        // The hook: the harness runs it on a runtime of its own.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = Client::new(&socket);
            assert_eq!(
                client.pull_string("/etc/web.conf").await.unwrap(),
                "port: 80"
            );
            client.replan_services().await.unwrap();
            client
                .push_bytes(
                    "/var/lib/web/state",
                    "ok",
                    &PushOptions {
                        make_dirs: true,
                        ..PushOptions::default()
                    },
                )
                .await
                .unwrap();
            client
                .exec(&crate::pebble::ExecOptions::new(["true"]), "")
                .await
                .unwrap();
        });

        let output = input.read_back(fake.as_ref()).unwrap();
        assert_eq!(output.service_statuses["web"], ServiceStatus::Active);
        assert_eq!(output.files["/var/lib/web/state"], b"ok");
        assert_eq!(output.files["/etc/web.conf"], b"port: 80");
        assert!(output.dirs.contains("/var/lib/web"));
        assert_eq!(output.plan().unwrap(), fake.as_ref().unwrap().plan());
        let kinds: Vec<&str> = output.changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["replan", "exec"]);
        drop(fake);
    }

    #[test]
    fn an_unreachable_container_has_no_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("web/pebble.socket");
        let input = ContainerState::unreachable().with_file("/x", "y");
        let fake = input.start(&socket).unwrap();
        assert!(fake.is_none());
        assert!(!socket.exists());
        assert_eq!(input.read_back(None).unwrap(), input);
    }

    #[test]
    fn inconsistent_declarations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = ContainerState::new().with_check("ghost", CheckStatus::Down, 3);
        let err = bad.start(&dir.path().join("a/pebble.socket")).unwrap_err();
        assert!(err.to_string().contains("\"ghost\""), "{err}");
        let bad = ContainerState::new().with_layer(
            "l",
            Layer::from_yaml("services: {x: {override: replace}}").unwrap(),
        );
        let err = bad.start(&dir.path().join("b/pebble.socket")).unwrap_err();
        assert!(err.to_string().contains("command"), "{err}");
    }
}
