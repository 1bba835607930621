//! Health checks: status and failures, starting and stopping.

use serde::{Deserialize, Serialize};

use super::client::{Client, Method};
use super::error::{Error, Result};
use super::layer::{CheckLevel, Startup};

string_enum! {
    /// The state of a check.
    pub enum CheckStatus {
        /// Healthy (fewer failures in a row than the threshold).
        Up = "up",
        /// Failed `threshold` times in a row.
        Down = "down",
        /// Stopped.
        Inactive = "inactive",
    }
}

/// A check's status (`GET /v1/checks`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckInfo {
    /// Its name.
    pub name: String,
    /// Its level, if set.
    #[serde(default)]
    pub level: Option<CheckLevel>,
    /// Startup mode (older Pebble does not report it).
    #[serde(default)]
    pub startup: Option<Startup>,
    /// Up, down or inactive.
    pub status: CheckStatus,
    /// Successes since it was last (re)started, if Pebble reports it.
    #[serde(default)]
    pub successes: Option<u64>,
    /// Failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// Failures in a row that make it down.
    #[serde(default)]
    pub threshold: u32,
    /// The change running the check.
    #[serde(default)]
    pub change_id: Option<String>,
}

#[derive(Serialize)]
struct ChecksAction<'a> {
    action: &'a str,
    checks: &'a [&'a str],
}

#[derive(Deserialize)]
struct ChecksActionResult {
    #[serde(default)]
    changed: Option<Vec<String>>,
}

impl Client {
    /// Status of checks, filtered by level and names (empty: all).
    pub async fn checks(
        &self,
        level: Option<CheckLevel>,
        names: &[&str],
    ) -> Result<Vec<CheckInfo>> {
        let mut query = Vec::new();
        if let Some(level) = level {
            query.push(("level", level.to_string()));
        }
        if !names.is_empty() {
            query.push(("names", names.join(",")));
        }
        self.sync_json::<_, ()>(Method::GET, "/v1/checks", &query, None)
            .await
    }

    /// Starts checks; returns the names of those that were not already running.
    pub async fn start_checks(&self, names: &[&str]) -> Result<Vec<String>> {
        self.checks_action("start", names).await
    }

    /// Stops checks; returns the names of those that were running.
    pub async fn stop_checks(&self, names: &[&str]) -> Result<Vec<String>> {
        self.checks_action("stop", names).await
    }

    async fn checks_action(&self, action: &str, names: &[&str]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{action} needs at least one check name"
            )));
        }
        let body = ChecksAction {
            action,
            checks: names,
        };
        let result: ChecksActionResult = self
            .sync_json(Method::POST, "/v1/checks", &[], Some(&body))
            .await?;
        Ok(result.changed.unwrap_or_default())
    }
}
