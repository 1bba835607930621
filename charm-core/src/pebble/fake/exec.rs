//! The fake's `exec`: a change whose task waits for its websockets, then runs the command
//! through a registered handler or, when allowed, as a real process on the host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::Shared;
use super::clock;
use crate::pebble::GoDuration;
use crate::pebble::exec::{END_COMMAND, is_end_command};

pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;
type Sink = Arc<AsyncMutex<SplitSink<Socket, Message>>>;

/// How long the task waits for the client's websockets, as Pebble does.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A command as the fake received it, handed to an exec handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecInvocation {
    /// Command and arguments.
    pub command: Vec<String>,
    /// Environment (after applying the service context, if any).
    pub environment: BTreeMap<String, String>,
    /// Working directory, if given.
    pub working_dir: Option<String>,
    /// User name, if given.
    pub user: Option<String>,
    /// Group name, if given.
    pub group: Option<String>,
    /// Everything the client sent on standard input.
    pub stdin: Vec<u8>,
}

/// What an exec handler answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit code.
    pub exit_code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// A simulated command: called with the invocation once stdin is complete.
pub type ExecHandler = Arc<dyn Fn(&ExecInvocation) -> ExecResult + Send + Sync>;

/// How a command will run.
pub(crate) enum Runner {
    Handler(ExecHandler),
    Host,
}

/// A started exec, waiting for its websockets.
pub(crate) struct PendingExec {
    pub change_id: u64,
    pub invocation: ExecInvocation,
    pub timeout: Option<Duration>,
    pub split_stderr: bool,
    pub runner: Runner,
    pub sockets: mpsc::Receiver<(String, Socket)>,
}

/// Runs a pending exec to completion and records the outcome in its change.
pub(crate) async fn run(shared: Arc<Shared>, pending: PendingExec) {
    let PendingExec {
        change_id,
        invocation,
        timeout,
        split_stderr,
        runner,
        mut sockets,
    } = pending;
    let mut connected: BTreeMap<String, Socket> = BTreeMap::new();
    let needed: &[&str] = if split_stderr {
        &["control", "stdio", "stderr"]
    } else {
        &["control", "stdio"]
    };
    let waited = tokio::time::timeout(CONNECT_TIMEOUT, async {
        while !needed.iter().all(|n| connected.contains_key(*n)) {
            match sockets.recv().await {
                Some((name, socket)) => {
                    connected.insert(name, socket);
                }
                None => break,
            }
        }
    })
    .await;
    let summary = format!(
        "Execute command {:?}",
        invocation.command.first().cloned().unwrap_or_default()
    );
    if waited.is_err() || !needed.iter().all(|n| connected.contains_key(*n)) {
        shared.finish_exec(
            change_id,
            Err(format!("{summary} (timed out waiting for websockets)")),
        );
        return;
    }
    let (Some(stdio), Some(control)) = (connected.remove("stdio"), connected.remove("control"))
    else {
        return;
    };
    let (stdio_sink, stdio_stream) = stdio.split();
    let out: Sink = Arc::new(AsyncMutex::new(stdio_sink));
    let err_sink: Option<Sink> = connected
        .remove("stderr")
        .map(|s| Arc::new(AsyncMutex::new(s.split().0)));
    // Control messages (signals, resizes) are accepted and ignored.
    let control_task = tokio::spawn(async move {
        let (_, mut stream) = control.split();
        while let Some(Ok(_)) = stream.next().await {}
    });

    let outcome = match runner {
        Runner::Handler(handler) => {
            run_handler(handler, invocation, stdio_stream, &out, err_sink.as_ref()).await
        }
        Runner::Host => {
            run_host(
                &shared,
                invocation,
                timeout,
                stdio_stream,
                &out,
                err_sink.as_ref(),
            )
            .await
        }
    };
    let _ = out.lock().await.send(Message::text(END_COMMAND)).await;
    let _ = out.lock().await.close().await;
    if let Some(err_sink) = &err_sink {
        let _ = err_sink.lock().await.send(Message::text(END_COMMAND)).await;
        let _ = err_sink.lock().await.close().await;
    }
    control_task.abort();
    let outcome = outcome.map_err(|reason| format!("{summary} ({reason})"));
    shared.finish_exec(change_id, outcome);
}

/// Reads stdin until the end command, then answers with the handler's result.
async fn run_handler(
    handler: ExecHandler,
    mut invocation: ExecInvocation,
    mut stdin: SplitStream<Socket>,
    out: &Sink,
    err: Option<&Sink>,
) -> Result<i32, String> {
    while let Some(Ok(message)) = stdin.next().await {
        match message {
            Message::Binary(data) => invocation.stdin.extend_from_slice(&data),
            Message::Text(text) if is_end_command(text.as_str()) => break,
            Message::Close(_) => break,
            _ => {}
        }
    }
    let result = handler(&invocation);
    send_chunk(out, result.stdout).await;
    send_chunk(err.unwrap_or(out), result.stderr).await;
    Ok(result.exit_code)
}

async fn send_chunk(sink: &Sink, data: Vec<u8>) {
    if !data.is_empty() {
        let _ = sink.lock().await.send(Message::Binary(data.into())).await;
    }
}

/// Runs the command as a host process, streaming its I/O through the websockets.
async fn run_host(
    shared: &Shared,
    invocation: ExecInvocation,
    timeout: Option<Duration>,
    mut stdin: SplitStream<Socket>,
    out: &Sink,
    err: Option<&Sink>,
) -> Result<i32, String> {
    let mut command = tokio::process::Command::new(&invocation.command[0]);
    command
        .args(&invocation.command[1..])
        .envs(&invocation.environment)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &invocation.working_dir {
        command.current_dir(shared.fs.host_path(dir));
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start command: {e}"))?;
    let mut child_stdin = child.stdin.take();
    let stdin_task = tokio::spawn(async move {
        while let Some(Ok(message)) = stdin.next().await {
            match message {
                Message::Binary(data) => {
                    let Some(pipe) = child_stdin.as_mut() else {
                        continue;
                    };
                    if pipe.write_all(&data).await.is_err() {
                        child_stdin = None;
                    }
                }
                Message::Text(text) if is_end_command(text.as_str()) => child_stdin = None,
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    let stdout_pump = pump(child.stdout.take(), out.clone());
    let stderr_pump = pump(child.stderr.take(), err.unwrap_or(out).clone());
    let pumps = tokio::spawn(async move {
        tokio::join!(stdout_pump, stderr_pump);
    });
    let status = match timeout {
        Some(limit) => tokio::select! {
            status = child.wait() => status,
            _ = tokio::time::sleep(limit) => {
                let _ = child.kill().await;
                let _ = pumps.await;
                stdin_task.abort();
                return Err(format!(
                    "timed out after {}: context deadline exceeded",
                    GoDuration(limit)
                ));
            }
        },
        None => child.wait().await,
    };
    let status = status.map_err(|e| format!("cannot wait for command: {e}"))?;
    let _ = pumps.await;
    stdin_task.abort();
    Ok(status.code().unwrap_or(-1))
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(source: Option<R>, sink: Sink) {
    let Some(mut source) = source else {
        return;
    };
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match source.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let chunk = bytes::Bytes::copy_from_slice(&buffer[..n]);
                if sink
                    .lock()
                    .await
                    .send(Message::Binary(chunk))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

impl Shared {
    /// Marks an exec change finished with an exit code, or failed with a task error.
    pub(crate) fn finish_exec(&self, change_id: u64, outcome: Result<i32, String>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(record) = state.changes.get_mut(&change_id) else {
            return;
        };
        let now = clock::now();
        let info = &mut record.info;
        info["ready"] = json!(true);
        info["ready-time"] = json!(now);
        match outcome {
            Ok(code) => {
                info["status"] = json!("Done");
                info["tasks"][0]["status"] = json!("Done");
                info["tasks"][0]["data"] = json!({"exit-code": code});
            }
            Err(reason) => {
                info["status"] = json!("Error");
                info["err"] = json!(format!("cannot perform the following tasks:\n- {reason}"));
                info["tasks"][0]["status"] = json!("Error");
            }
        }
        info["tasks"][0]["ready-time"] = json!(now);
        record.ready.send_replace(true);
    }
}
