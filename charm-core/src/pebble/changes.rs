//! Changes: Pebble's record of an asynchronous operation, and waiting for one to finish.

use std::time::Duration;

use serde::Deserialize;

use super::client::{Client, Method, decode_result};
use super::error::{Error, Result};
use super::ids::ChangeId;

string_enum! {
    /// The status of a change or task.
    pub enum ChangeStatus {
        /// Waiting to run.
        Do = "Do",
        /// Running.
        Doing = "Doing",
        /// Finished successfully.
        Done = "Done",
        /// Being aborted.
        Abort = "Abort",
        /// Waiting to be undone.
        Undo = "Undo",
        /// Being undone.
        Undoing = "Undoing",
        /// Undone.
        Undone = "Undone",
        /// Held back.
        Hold = "Hold",
        /// Failed.
        Error = "Error",
        /// Waiting for something external.
        Wait = "Wait",
    }
}

/// An asynchronous operation (`GET /v1/changes/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Change {
    /// Its id.
    pub id: ChangeId,
    /// E.g. `start`, `stop`, `replan`, `exec`.
    pub kind: String,
    /// Human-readable summary, e.g. `Start service "web"`.
    #[serde(default)]
    pub summary: String,
    /// Overall status.
    pub status: ChangeStatus,
    /// The tasks making up the change.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Whether it has finished (successfully or not).
    #[serde(default)]
    pub ready: bool,
    /// The error text when it failed.
    #[serde(default)]
    pub err: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub spawn_time: String,
    /// When it finished (RFC 3339).
    #[serde(default)]
    pub ready_time: Option<String>,
    /// Kind-specific data.
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// One step of a change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    /// Its id (used by exec's websockets).
    pub id: String,
    /// E.g. `start`, `exec`.
    pub kind: String,
    /// Human-readable summary.
    #[serde(default)]
    pub summary: String,
    /// Status.
    pub status: ChangeStatus,
    /// Log lines, e.g. the output of a service that failed to start.
    #[serde(default)]
    pub log: Vec<String>,
    /// Progress.
    #[serde(default)]
    pub progress: TaskProgress,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub spawn_time: String,
    /// When it finished (RFC 3339).
    #[serde(default)]
    pub ready_time: Option<String>,
    /// Kind-specific data, e.g. `exit-code` for exec.
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// Progress of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TaskProgress {
    /// Label.
    #[serde(default)]
    pub label: String,
    /// Units done.
    #[serde(default)]
    pub done: u64,
    /// Units in total.
    #[serde(default)]
    pub total: u64,
}

impl Change {
    /// The change's error text with the logs of its tasks appended, as `ops` shows it.
    pub fn error_with_logs(&self) -> Option<String> {
        let err = self.err.as_ref()?;
        let mut text = err.clone();
        let mut any = false;
        for (i, task) in self.tasks.iter().enumerate() {
            if task.log.is_empty() {
                continue;
            }
            any = true;
            text.push_str(&format!("\n----- Logs from task {i} -----\n"));
            text.push_str(&task.log.join("\n"));
        }
        if any {
            text.push_str("\n-----");
        }
        Some(text)
    }

    /// `Ok(self)` if the change finished without error, else [`Error::ChangeFailed`].
    pub fn into_result(self) -> Result<Change> {
        match self.error_with_logs() {
            Some(err) => Err(Error::ChangeFailed { id: self.id, err }),
            None => Ok(self),
        }
    }
}

/// Formats a timeout the way `ops` sends it (Go accepts `"1.500s"`).
pub(crate) fn format_timeout(timeout: Duration) -> String {
    format!("{:.3}s", timeout.as_secs_f64())
}

impl Client {
    /// A change by id.
    pub async fn change(&self, id: &ChangeId) -> Result<Change> {
        self.sync_json::<_, ()>(Method::GET, &format!("/v1/changes/{id}"), &[], None)
            .await
    }

    /// Waits until the change is ready (`GET /v1/changes/{id}/wait?timeout=...`) and returns
    /// it; a change that finished with an error is still `Ok` here (see
    /// [`Change::into_result`]). Running out of time is [`Error::Timeout`].
    pub async fn wait_change(&self, id: &ChangeId, timeout: Duration) -> Result<Change> {
        let path = format!("/v1/changes/{id}/wait");
        // Pebble enforces `timeout`; the margin lets its 504 answer arrive before ours fires.
        let client_timeout = timeout + Duration::from_secs(5);
        let envelope = self
            .call(
                Method::GET,
                &path,
                &[("timeout", format_timeout(timeout))],
                None,
                client_timeout,
            )
            .await;
        let envelope = match envelope {
            Err(Error::Api {
                status_code: 504, ..
            }) => {
                return Err(Error::Timeout {
                    what: format!("change {id}"),
                    after: timeout,
                });
            }
            other => other?,
        };
        decode_result(&format!("GET {path}"), envelope.result)
    }

    /// Waits for the change and fails with [`Error::ChangeFailed`] if it failed.
    pub(crate) async fn wait_change_ok(&self, id: &ChangeId, timeout: Duration) -> Result<Change> {
        self.wait_change(id, timeout).await?.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_change_carries_error_and_task_logs() {
        let change: Change = serde_json::from_value(serde_json::json!({
            "id": "7", "kind": "start", "summary": "Start service \"web\"", "status": "Error",
            "ready": true, "err": "cannot perform the following tasks:\n- Start service \"web\" (exited quickly)",
            "spawn-time": "2024-01-01T00:00:00Z",
            "tasks": [{"id": "8", "kind": "start", "summary": "s", "status": "Error",
                       "log": ["2024 ERROR boom"], "progress": {"label": "", "done": 1, "total": 1},
                       "spawn-time": "2024-01-01T00:00:00Z"}]
        }))
        .unwrap();
        match change.into_result() {
            Err(Error::ChangeFailed { id, err }) => {
                assert_eq!(id.as_str(), "7");
                assert!(err.contains("exited quickly"));
                assert!(err.contains("Logs from task 0"));
                assert!(err.contains("boom"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn timeout_format_matches_ops() {
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1.500s");
    }
}
