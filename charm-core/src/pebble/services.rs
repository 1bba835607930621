//! Services: status, and start/stop/restart/replan as waited-for changes.

use serde::{Deserialize, Serialize};

use super::changes::Change;
use super::client::{Client, Method};
use super::error::{Error, Result};
use super::ids::ChangeId;
use super::layer::Startup;

string_enum! {
    /// The current state of a service.
    pub enum ServiceStatus {
        /// Running.
        Active = "active",
        /// Waiting to be restarted after exiting.
        Backoff = "backoff",
        /// Failed and not restarting.
        Error = "error",
        /// Not running.
        Inactive = "inactive",
    }
}

/// A service's status (`GET /v1/services`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceInfo {
    /// Its name.
    pub name: String,
    /// Its startup mode.
    pub startup: Startup,
    /// Its current state.
    pub current: ServiceStatus,
    /// Since when it is in that state (RFC 3339).
    #[serde(default)]
    pub current_since: Option<String>,
}

impl ServiceInfo {
    /// Whether the service is running.
    pub fn is_running(&self) -> bool {
        self.current == ServiceStatus::Active
    }
}

#[derive(Serialize)]
struct ServiceAction<'a> {
    action: &'a str,
    services: &'a [&'a str],
}

impl Client {
    /// Status of the named services, or of all services when `names` is empty.
    pub async fn services(&self, names: &[&str]) -> Result<Vec<ServiceInfo>> {
        let query = if names.is_empty() {
            vec![]
        } else {
            vec![("names", names.join(","))]
        };
        self.sync_json::<_, ()>(Method::GET, "/v1/services", &query, None)
            .await
    }

    /// Starts services (and the services they require) and waits for them.
    pub async fn start_services(&self, names: &[&str]) -> Result<Change> {
        self.service_action_wait("start", names).await
    }

    /// Stops services (and the services requiring them) and waits for them.
    pub async fn stop_services(&self, names: &[&str]) -> Result<Change> {
        self.service_action_wait("stop", names).await
    }

    /// Restarts services and waits for them.
    pub async fn restart_services(&self, names: &[&str]) -> Result<Change> {
        self.service_action_wait("restart", names).await
    }

    /// Brings running services in line with the plan: restarts services whose configuration
    /// changed and starts `startup: enabled` services that are not running.
    pub async fn replan_services(&self) -> Result<Change> {
        self.service_action_wait("replan", &[]).await
    }

    /// Starts the `startup: enabled` services.
    pub async fn autostart_services(&self) -> Result<Change> {
        self.service_action_wait("autostart", &[]).await
    }

    /// Sends a service action without waiting; returns the change to wait for.
    pub async fn service_action(&self, action: &str, names: &[&str]) -> Result<ChangeId> {
        let takes_names = !matches!(action, "replan" | "autostart");
        if takes_names && names.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{action} needs at least one service name"
            )));
        }
        if !takes_names && !names.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{action} accepts no service names, got {names:?}"
            )));
        }
        if let Some(bad) = names.iter().find(|n| n.is_empty() || n.contains(',')) {
            return Err(Error::InvalidArgument(format!(
                "invalid service name {bad:?}"
            )));
        }
        let body = ServiceAction {
            action,
            services: names,
        };
        let (id, _) = self.async_json(Method::POST, "/v1/services", &body).await?;
        Ok(id)
    }

    async fn service_action_wait(&self, action: &str, names: &[&str]) -> Result<Change> {
        let id = self.service_action(action, names).await?;
        self.wait_change_ok(&id, self.change_timeout()).await
    }
}
