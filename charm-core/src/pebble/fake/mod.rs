//! A fake Pebble daemon for tests: Pebble's HTTP API on a real unix socket, backed by
//! in-memory state and a temporary directory standing for the container's file system.
//!
//! It is written from Pebble's API (request and response shapes, the
//! `{"type": "sync"|"async"|"error", ...}` envelope, multipart file transfer, exec
//! websockets) so the real [`Client`] is tested over real HTTP. What it does
//! not do, by design:
//! - services do not run: start marks them active, stop inactive; replan restarts services
//!   whose configuration changed since they started and starts `startup: enabled` ones; a
//!   service can be made to fail its start ([`FakePebble::fail_service_start`]);
//! - checks do not run: their status is whatever the test sets ([`FakePebble::set_check`]);
//! - ownership of files is recorded and reported, not applied (that needs root);
//! - commands run through handlers registered with [`FakePebble::on_exec`], or as real host
//!   processes when [`FakePebble::allow_host_exec`] is on.

mod api;
mod clock;
mod container;
mod exec;
mod fs;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use container::{CheckState, ContainerState, ExecMock, NoticeState};
pub use exec::{ExecHandler, ExecInvocation, ExecResult};

use super::layer::Layer;
use super::plan::Plan;
use super::{ChangeId, CheckStatus, Client, NoticeId, NoticeType, ServiceStatus};
use fs::FakeFs;
use state::State;

/// The version the fake reports in system info.
pub const FAKE_VERSION: &str = "v1.19.0-fake";

/// State shared by the server's connections.
pub(crate) struct Shared {
    state: Mutex<State>,
    fs: FakeFs,
    boot_id: String,
    requests: Mutex<Vec<String>>,
    exec_handlers: Mutex<Vec<(Vec<String>, ExecHandler)>>,
    host_exec: Mutex<bool>,
    exec_sessions: Mutex<HashMap<String, mpsc::Sender<(String, exec::Socket)>>>,
}

impl Shared {
    /// The handler for a command (longest matching prefix), or the host when allowed and
    /// the executable exists.
    fn exec_runner(&self, command: &[String]) -> Option<exec::Runner> {
        let handlers = self.exec_handlers.lock().ok()?;
        let best = handlers
            .iter()
            .filter(|(prefix, _)| command.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((_, handler)) = best {
            return Some(exec::Runner::Handler(Arc::clone(handler)));
        }
        let host = self.host_exec.lock().map(|h| *h).unwrap_or(false);
        (host && executable_exists(command.first()?)).then_some(exec::Runner::Host)
    }
}

fn executable_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// A running fake Pebble. Dropping it stops the server, removes its socket and deletes its
/// directory.
pub struct FakePebble {
    shared: Arc<Shared>,
    socket: PathBuf,
    server: JoinHandle<()>,
    /// The runtime of a fake started with [`FakePebble::start_background`].
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl FakePebble {
    /// Starts a fake with its socket and file system in a new temporary directory.
    pub async fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("pebble.socket");
        Self::start_in(dir, socket).await
    }

    /// Starts a fake listening at `socket` (e.g. `<base>/<container>/pebble.socket`, to serve
    /// a [`Container`](super::Container) whose socket base is a test directory). Parent
    /// directories are created; the file system still lives in a temporary directory.
    pub async fn start_at(socket: impl Into<PathBuf>) -> io::Result<Self> {
        let socket = socket.into();
        if let Some(parent) = socket.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Self::start_in(tempfile::tempdir()?, socket).await
    }

    /// Starts a fake at `socket` served by its own runtime thread, for synchronous code such
    /// as the state-transition harness (whose hook runs on a runtime of its own).
    pub fn start_background(socket: impl Into<PathBuf>) -> io::Result<Self> {
        let socket = socket.into();
        if let Some(parent) = socket.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-pebble")
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let mut fake = {
            let _entered = runtime.enter();
            Self::bind(dir, socket)?
        };
        fake.runtime = Some(runtime);
        Ok(fake)
    }

    async fn start_in(dir: tempfile::TempDir, socket: PathBuf) -> io::Result<Self> {
        Self::bind(dir, socket)
    }

    /// Binds and spawns the server on the current runtime.
    fn bind(dir: tempfile::TempDir, socket: PathBuf) -> io::Result<Self> {
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root)?;
        let listener = UnixListener::bind(&socket)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            fs: FakeFs::new(root),
            boot_id: format!("fake-{}", std::process::id()),
            requests: Mutex::default(),
            exec_handlers: Mutex::default(),
            host_exec: Mutex::new(false),
            exec_sessions: Mutex::default(),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Self {
            shared,
            socket,
            server,
            runtime: None,
            _dir: dir,
        })
    }

    /// The socket the fake listens on.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// A client for this fake.
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    /// The host directory standing for the container's `/`.
    pub fn root(&self) -> &Path {
        self.shared.fs.root()
    }

    /// Where container path `path` lives on the host.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.shared.fs.host_path(path)
    }

    /// Stops listening and removes the socket, as when the workload container goes away.
    pub fn stop(&self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.socket);
    }

    /// `METHOD /path` of every request served, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = match self.shared.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut state)
    }

    /// The layers added so far, in order, with their labels.
    pub fn layers(&self) -> Vec<(String, Layer)> {
        self.with_state(|s| s.layers.clone())
    }

    /// The current plan.
    pub fn plan(&self) -> Plan {
        self.with_state(|s| s.plan.clone())
    }

    /// Adds a layer as if it had been in Pebble's layers directory at startup.
    pub fn add_layer(&self, label: &str, layer: Layer) -> Result<(), String> {
        self.with_state(|s| s.add_layer(label, layer, false))
            .map_err(|e| e.message)
    }

    /// The current status of a service in the plan.
    pub fn service_status(&self, name: &str) -> Option<ServiceStatus> {
        self.with_state(|s| s.services.get(name).map(|st| st.current.clone()))
    }

    /// Sets a service's status directly (e.g. a service that crashed: `Error` or `Backoff`).
    /// An active service counts as started with its current plan configuration.
    pub fn set_service_status(&self, name: &str, status: ServiceStatus) {
        self.with_state(|s| {
            let config = s.plan.services.get(name).cloned();
            let state = s
                .services
                .entry(name.to_string())
                .or_insert(state::ServiceState {
                    current: ServiceStatus::Inactive,
                    since: clock::now(),
                    started_with: None,
                });
            state.started_with = (status == ServiceStatus::Active)
                .then_some(config)
                .flatten();
            state.current = status;
            state.since = clock::now();
        });
    }

    /// Makes every later start of `name` fail with `message` (the change's task error).
    pub fn fail_service_start(&self, name: &str, message: &str) {
        self.with_state(|s| {
            s.start_failures
                .insert(name.to_string(), message.to_string())
        });
    }

    /// Lets `name` start again.
    pub fn clear_service_start_failure(&self, name: &str) {
        self.with_state(|s| s.start_failures.remove(name));
    }

    /// Sets a check's status and failure count; returns false if the plan has no such check.
    pub fn set_check(&self, name: &str, status: CheckStatus, failures: u32) -> bool {
        self.with_state(|s| match s.checks.get_mut(name) {
            Some(check) => {
                check.status = status;
                check.failures = failures;
                true
            }
            None => false,
        })
    }

    /// Records a notice (a repeat of the same type and key bumps its occurrences).
    pub fn add_notice(
        &self,
        notice_type: NoticeType,
        key: &str,
        data: BTreeMap<String, String>,
    ) -> NoticeId {
        let id = self.with_state(|s| s.add_notice(notice_type, key, data));
        NoticeId::new(id.to_string()).unwrap_or_else(|_| unreachable!("numeric ids are valid"))
    }

    /// Records a change that stays in progress until [`FakePebble::finish_change`], to test
    /// waiting (Pebble's own changes in the fake finish at once).
    pub fn add_pending_change(&self, kind: &str, summary: &str) -> ChangeId {
        let info = serde_json::json!({
            "kind": kind, "summary": summary, "status": "Doing", "ready": false,
            "spawn-time": clock::now(), "tasks": [],
        });
        let (ready, _) = tokio::sync::watch::channel(false);
        let id = self.with_state(|s| s.insert_change(info, ready));
        ChangeId::new(id.to_string()).unwrap_or_else(|_| unreachable!("numeric ids are valid"))
    }

    /// Finishes a change, successfully or with `err` as its error text; false if unknown.
    pub fn finish_change(&self, id: &ChangeId, err: Option<&str>) -> bool {
        self.with_state(|s| {
            let Some(record) = id
                .as_str()
                .parse()
                .ok()
                .and_then(|n: u64| s.changes.get_mut(&n))
            else {
                return false;
            };
            record.info["ready"] = serde_json::json!(true);
            record.info["ready-time"] = serde_json::json!(clock::now());
            record.info["status"] = serde_json::json!(if err.is_some() { "Error" } else { "Done" });
            if let Some(err) = err {
                record.info["err"] = serde_json::json!(err);
            }
            record.ready.send_replace(true);
            true
        })
    }

    /// Simulates commands starting with `prefix` (the longest matching prefix wins).
    pub fn on_exec<S: Into<String>>(
        &self,
        prefix: impl IntoIterator<Item = S>,
        handler: impl Fn(&ExecInvocation) -> ExecResult + Send + Sync + 'static,
    ) {
        let prefix: Vec<String> = prefix.into_iter().map(Into::into).collect();
        if let Ok(mut handlers) = self.shared.exec_handlers.lock() {
            handlers.push((prefix, Arc::new(handler)));
        }
    }

    /// Runs commands with no handler as real processes on the host (off by default).
    pub fn allow_host_exec(&self, allow: bool) {
        if let Ok(mut host) = self.shared.host_exec.lock() {
            *host = allow;
        }
    }
}

impl std::fmt::Debug for FakePebble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePebble")
            .field("socket", &self.socket)
            .field("root", &self.root())
            .finish_non_exhaustive()
    }
}

impl Drop for FakePebble {
    fn drop(&mut self) {
        self.server.abort();
        // A socket left behind (under a caller's directory, see `start_at`) would make the
        // next fake at the same path fail to bind.
        let _ = std::fs::remove_file(&self.socket);
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so dropping the fake inside async code is fine too.
            runtime.shutdown_background();
        }
    }
}

async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!("fake Pebble accept failed: {e}");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(api::handle(shared, request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!("fake Pebble connection ended: {e}");
            }
        });
    }
}
