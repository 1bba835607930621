//! Running commands in the container (`POST /v1/exec` plus websockets).
//!
//! Pebble starts the command as a change with one task, then waits for the client to connect
//! the task's websockets: `control`, `stdio` (stdin in, stdout out) and, when stderr is kept
//! apart, `stderr`. Data travels as binary messages; a text message `{"command":"end"}` marks
//! the end of a stream. The exit code is in the finished task's data (`exit-code`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::io::ReaderStream;

use super::client::{Client, Method, error_chain, protocol};
use super::duration::GoDuration;
use super::error::{Error, Result};
use super::ids::ChangeId;

/// The text message that ends a stream in Pebble's websocket protocol.
pub(crate) const END_COMMAND: &str = r#"{"command":"end"}"#;

/// What to run and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The command and its arguments (the first is looked up on `PATH`).
    pub command: Vec<String>,
    /// Take environment, user, group and working dir from this service, then apply the rest.
    pub service_context: Option<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Kill the command after this long; the call then fails with [`Error::Timeout`].
    pub timeout: Option<Duration>,
    /// Run as this user id.
    pub user_id: Option<u32>,
    /// Run as this user name.
    pub user: Option<String>,
    /// Run with this group id.
    pub group_id: Option<u32>,
    /// Run with this group name.
    pub group: Option<String>,
}

impl ExecOptions {
    /// Options for running `command`.
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> Self {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

/// Output of a finished command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ExecRequest<'a> {
    command: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    service_context: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    split_stderr: bool,
}

type Socket = WebSocketStream<tokio::net::UnixStream>;

impl Client {
    /// Runs a command with `stdin` as its input and returns its output; a non-zero exit code
    /// is [`Error::Exec`] carrying both outputs.
    pub async fn exec(&self, options: &ExecOptions, stdin: impl Into<Bytes>) -> Result<ExecOutput> {
        let mut output = ExecOutput::default();
        let stdin = std::io::Cursor::new(stdin.into());
        let code = self
            .exec_streaming(options, stdin, &mut output.stdout, Some(&mut output.stderr))
            .await?;
        if code != 0 {
            return Err(Error::Exec {
                command: options.command.clone(),
                exit_code: code,
                stdout: output.stdout,
                stderr: output.stderr,
            });
        }
        Ok(output)
    }

    /// Runs a command, streaming `stdin` to it and its output to `stdout` and `stderr` (or
    /// both to `stdout` when `stderr` is `None`), and returns its exit code.
    pub async fn exec_streaming<I, O, E>(
        &self,
        options: &ExecOptions,
        stdin: I,
        stdout: &mut O,
        stderr: Option<&mut E>,
    ) -> Result<i32>
    where
        I: AsyncRead + Unpin,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        if options.command.is_empty() {
            return Err(Error::InvalidArgument("exec needs a command".into()));
        }
        let request = ExecRequest {
            command: &options.command,
            service_context: options.service_context.as_deref(),
            environment: &options.environment,
            working_dir: options.working_dir.as_deref(),
            timeout: options.timeout.map(|t| GoDuration(t).to_string()),
            user_id: options.user_id,
            user: options.user.as_deref(),
            group_id: options.group_id,
            group: options.group.as_deref(),
            split_stderr: stderr.is_some(),
        };
        let (change_id, result) = self.async_json(Method::POST, "/v1/exec", &request).await?;
        let task_id = result
            .get("task-id")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| protocol("POST /v1/exec", format!("no valid task-id in {result}")))?
            .to_string();

        let mut control = self.task_websocket(&task_id, "control").await?;
        let stdio = self.task_websocket(&task_id, "stdio").await?;
        let stderr_socket = match stderr.is_some() {
            true => Some(self.task_websocket(&task_id, "stderr").await?),
            false => None,
        };

        let io = self.exchange(stdio, stderr_socket, stdin, stdout, stderr);
        match options.timeout {
            // Pebble kills the command at `timeout`; the margin lets its verdict arrive first.
            Some(timeout) => tokio::time::timeout(timeout + Duration::from_secs(5), io)
                .await
                .map_err(|_| exec_timeout(options, timeout))??,
            None => io.await?,
        }
        let _ = control.close(None).await;

        let wait = options
            .timeout
            .map(|t| t + Duration::from_secs(1))
            .unwrap_or(self.change_timeout());
        self.exec_exit_code(&change_id, options, wait).await
    }

    async fn exec_exit_code(
        &self,
        change_id: &ChangeId,
        options: &ExecOptions,
        wait: Duration,
    ) -> Result<i32> {
        let change = self.wait_change(change_id, wait).await?;
        if let Some(err) = change.err.clone() {
            if let Some(timeout) = options.timeout
                && err.contains("timed out")
            {
                return Err(exec_timeout(options, timeout));
            }
            return Err(Error::ChangeFailed { id: change.id, err });
        }
        let code = change
            .tasks
            .first()
            .and_then(|t| t.data.get("exit-code"))
            .and_then(|c| c.as_i64())
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| {
                protocol(
                    &format!("GET /v1/changes/{change_id}/wait"),
                    "exec change has no exit-code",
                )
            })?;
        Ok(code)
    }

    async fn task_websocket(&self, task_id: &str, name: &str) -> Result<Socket> {
        let stream = self.connect().await?;
        let url = format!("ws://localhost/v1/tasks/{task_id}/websocket/{name}");
        let (socket, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| {
                self.connection_error(format!(
                    "cannot connect to the {name:?} websocket: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(socket)
    }

    /// Pumps stdin into `stdio` and the output streams out, until both outputs end.
    async fn exchange<I, O, E>(
        &self,
        stdio: Socket,
        stderr_socket: Option<Socket>,
        stdin: I,
        stdout: &mut O,
        stderr: Option<&mut E>,
    ) -> Result<()>
    where
        I: AsyncRead + Unpin,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        let (mut sink, stdio_in) = stdio.split();
        let send = async move {
            let mut chunks = ReaderStream::with_capacity(stdin, 64 * 1024);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|source| Error::LocalIo {
                    context: "reading the command's standard input".into(),
                    source,
                })?;
                // The command may exit without reading its input: stop quietly then.
                if sink.send(Message::Binary(chunk)).await.is_err() {
                    return Ok(());
                }
            }
            let _ = sink.send(Message::text(END_COMMAND)).await;
            Ok::<_, Error>(())
        };
        let receive = async {
            let out = receive_stream(stdio_in, stdout, "standard output");
            match (stderr_socket, stderr) {
                (Some(socket), Some(writer)) => {
                    let (_, stream) = socket.split();
                    let (a, b) =
                        tokio::join!(out, receive_stream(stream, writer, "standard error"));
                    a.and(b)
                }
                _ => out.await,
            }
        };
        tokio::pin!(send, receive);
        let mut sending = true;
        loop {
            tokio::select! {
                sent = &mut send, if sending => {
                    sent?;
                    sending = false;
                }
                received = &mut receive => return received,
            }
        }
    }
}

fn exec_timeout(options: &ExecOptions, timeout: Duration) -> Error {
    Error::Timeout {
        what: format!("command {:?}", options.command),
        after: timeout,
    }
}

/// Copies binary messages to `writer` until the end command or the socket closes.
async fn receive_stream<S, W>(mut stream: S, writer: &mut W, what: &str) -> Result<()>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some(message) = stream.next().await {
        let message = match message {
            Ok(message) => message,
            // A dropped socket ends the stream, as in Pebble's own client.
            Err(e) => {
                tracing::debug!("exec {what} websocket ended: {e}");
                break;
            }
        };
        match message {
            Message::Binary(data) => {
                writer
                    .write_all(&data)
                    .await
                    .map_err(|source| Error::LocalIo {
                        context: format!("writing the command's {what}"),
                        source,
                    })?;
            }
            Message::Text(text) if is_end_command(text.as_str()) => break,
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.flush().await.map_err(|source| Error::LocalIo {
        context: format!("writing the command's {what}"),
        source,
    })
}

/// Whether a text message is the end-of-stream command.
pub(crate) fn is_end_command(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("command")
                .and_then(|c| c.as_str())
                .map(|c| c == "end")
        })
        .unwrap_or(false)
}
