//! A client for Pebble, the service manager Juju runs in each workload container.
//!
//! Juju exposes each workload container's Pebble to the charm container as an HTTP API on a
//! unix socket, `/charm/containers/<container>/pebble.socket`. [`Client`] speaks that API
//! (HTTP/1.1 over [`tokio::net::UnixStream`], one connection per request: a charm makes a
//! handful of calls per hook, and a fresh connection never trips over a Pebble restart).
//!
//! What it covers, following Pebble's own Go client and `ops.pebble`:
//! - system: [`Client::can_connect`], [`Client::system_info`];
//! - layers and plan: [`Client::add_layer`] (with `combine`), [`Client::plan`], with typed
//!   [`Layer`]/[`Service`]/[`Check`]/[`LogTarget`] and Pebble's `override: merge|replace`
//!   rules implemented here too ([`Plan::from_layers`]), so a testing double computes the
//!   same plan Pebble would;
//! - services: [`Client::services`], start/stop/restart/replan, which wait for Pebble's
//!   asynchronous change and turn a failed change into [`Error::ChangeFailed`] with Pebble's
//!   error text;
//! - files: streamed [`Client::push`] and [`Client::pull_to`] (multipart, never buffered
//!   whole), [`Client::list_files`], [`Client::make_dir`], [`Client::remove_path`],
//!   [`Client::exists`], [`Client::is_dir`];
//! - checks, notices, and [`Client::exec`] over Pebble's websockets.
//!
//! Errors are typed ([`Error`]); malformed responses become [`Error::Protocol`], never a panic.
//! Timestamps are kept as the RFC 3339 strings Pebble sends (the crate has no date library);
//! durations are [`GoDuration`].
//!
//! YAML goes through one small module (`yaml`), so `serde_yaml` could be swapped out.
//!
//! A testing double, `fake::FakePebble` (feature `testing`), serves the same API on a real
//! unix socket from in-memory state and a temporary directory; `fake::ContainerState` is a
//! container as a state-transition test declares it.
//!
//! # Example: keep a workload in line with the config
//!
//! On `pebble-ready` and on `config-changed` alike, compute the layer from the config, and
//! only when the service differs from the plan, combine the layer and replan (which restarts
//! the service with its new environment). Before Pebble is up, do nothing: `pebble-ready`
//! will come.
//!
//! ```
//! use charm_core::pebble::{Container, Error, Layer, Service, Startup};
//! # use charm_core::pebble::fake::FakePebble;
//!
//! fn layer(cluster_id: &str) -> Layer {
//!     let agent = Service::new("/usr/local/bin/kubeagentmanager --tls true")
//!         .with_startup(Startup::Enabled)
//!         .with_env("AMDS_CLUSTER_ID", cluster_id);
//!     Layer::new().with_summary("cloudcasa").with_service("agent", agent)
//! }
//!
//! /// Returns whether the service was (re)started.
//! async fn reconcile(container: &Container, cluster_id: &str) -> Result<bool, Error> {
//!     if !container.can_connect().await {
//!         return Ok(false);
//!     }
//!     let pebble = container.pebble();
//!     let wanted = layer(cluster_id);
//!     if pebble.plan().await?.services.get("agent") == wanted.services.get("agent") {
//!         return Ok(false);
//!     }
//!     pebble.add_layer("cloudcasa", &wanted, true).await?;
//!     pebble.replan_services().await?;
//!     Ok(true)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let base = tempfile::tempdir().unwrap();
//! let container = Container::with_socket_base("cloudcasa", base.path()).unwrap();
//! assert!(!reconcile(&container, "abc").await.unwrap()); // Pebble not up yet
//! # let fake = FakePebble::start_at(Container::socket_path(base.path(), "cloudcasa")).await.unwrap();
//! assert!(reconcile(&container, "abc").await.unwrap()); // pebble-ready: layer + replan
//! assert!(!reconcile(&container, "abc").await.unwrap()); // same config: nothing to do
//! assert!(reconcile(&container, "xyz").await.unwrap()); // config-changed: new environment
//! # let plan = container.pebble().plan().await.unwrap();
//! # assert_eq!(plan.services["agent"].environment["AMDS_CLUSTER_ID"], "xyz");
//! # }
//! ```

/// Declares a Pebble string enum: known values as variants, anything else kept verbatim in
/// `Other`, so a newer Pebble never makes a response unreadable.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this client does not know (sent by a newer Pebble).
            Other(String),
        }

        impl $name {
            /// The string Pebble uses for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

mod changes;
mod checks;
mod client;
mod container;
mod duration;
mod error;
mod exec;
mod files;
mod layer;
mod notices;
mod plan;
mod query;
mod services;
mod yaml;

#[cfg(feature = "testing")]
pub mod fake;

pub use changes::{Change, ChangeId, ChangeStatus, Task, TaskProgress};
pub use checks::{CheckInfo, CheckStatus};
pub use client::{Client, SystemInfo};
pub use container::{Container, DEFAULT_SOCKET_BASE};
pub use duration::{GoDuration, ParseDurationError};
pub use error::{Error, PathErrorKind, Result};
pub use exec::{ExecOptions, ExecOutput};
pub use files::{FileInfo, FileType, MakeDirOptions, Owner, PushOptions};
pub use layer::{
    Check, CheckLevel, ExecCheck, HttpCheck, Layer, LogTarget, LogTargetType, Override, Service,
    ServiceAction, Startup, TcpCheck,
};
pub use notices::{Notice, NoticeId, NoticeType, NoticesOptions};
pub use plan::Plan;
pub use services::{ServiceInfo, ServiceStatus};
