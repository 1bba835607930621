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
//! container as a state-transition test declares it (`testing::State::containers`): the
//! harness serves each declared container from a fake during the hook and reads it back after.
//!
//! # Example: a charm keeping its workload in line with the config
//!
//! On `pebble-ready` the charm adds its layer and replans, which starts the service; on
//! `config-changed` it combines a new layer and replans only when the service differs from the
//! plan, so an unchanged config restarts nothing. Before Pebble is up every call fails with
//! [`Error::Connection`]: the charm waits for `pebble-ready`. `examples/pebble-charm` is a
//! fuller charm (files, custom notices).
//!
//! ```
//! use charm_core::pebble::{Error, Layer, Service, Startup};
//! use charm_core::{Charm, CharmError, Event, Model, Status};
//!
//! #[derive(Default)]
//! struct Agent;
//!
//! impl Charm for Agent {
//!     async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
//!         if !matches!(event, Event::PebbleReady { .. } | Event::ConfigChanged) {
//!             return Ok(());
//!         }
//!         let cluster_id = model.config()?.string("cluster-id")?.unwrap_or_default();
//!         let agent = Service::new("/usr/local/bin/agent --tls true")
//!             .with_startup(Startup::Enabled)
//!             .with_env("CLUSTER_ID", cluster_id);
//!         let wanted = Layer::new().with_service("agent", agent);
//!
//!         let container = model.container("agent")?;
//!         let pebble = container.pebble();
//!         let plan = match pebble.plan().await {
//!             Ok(plan) => plan,
//!             Err(Error::Connection { .. }) => {
//!                 model.add_status(Status::waiting("waiting for Pebble"));
//!                 return Ok(());
//!             }
//!             Err(e) => return Err(e.into()),
//!         };
//!         if plan.services.get("agent") != wanted.services.get("agent") {
//!             pebble.add_layer("agent", &wanted, true).await?;
//!             pebble.replan_services().await?; // (re)starts what changed
//!         }
//!         model.add_status(Status::active(""));
//!         Ok(())
//!     }
//! }
//!
//! // Tested with the state-transition harness (feature `testing`).
//! use charm_core::pebble::fake::ContainerState;
//! use charm_core::testing::{Context, State};
//!
//! let meta = "name: agent\ncontainers:\n  agent: {}\n";
//! let config = "options:\n  cluster-id: {type: string, default: none}\n";
//! let ctx = Context::<Agent>::new(charm_core::Metadata::from_packed(meta, Some(config), None)?);
//! let state = State {
//!     containers: [("agent".to_string(), ContainerState::new())].into(),
//!     ..State::default()
//! };
//! let ready = ctx.run(Event::PebbleReady { container: "agent".into() }, state)?;
//! let agent = &ready.containers["agent"];
//! assert_eq!(agent.plan()?.services["agent"].environment["CLUSTER_ID"], "none");
//! assert_eq!(agent.changes[0].kind, "replan");
//!
//! let same = ctx.run(Event::ConfigChanged, ready.clone())?;
//! assert!(same.containers["agent"].changes.is_empty()); // nothing restarted
//!
//! let mut next = ready;
//! next.config.insert("cluster-id".into(), "abc".into());
//! let changed = ctx.run(Event::ConfigChanged, next)?;
//! let agent = &changed.containers["agent"];
//! assert_eq!(agent.plan()?.services["agent"].environment["CLUSTER_ID"], "abc");
//! assert_eq!(agent.changes[0].kind, "replan");
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
mod ids;
mod layer;
mod notices;
mod plan;
mod query;
mod services;
mod yaml;

#[cfg(any(test, feature = "testing"))]
pub mod fake;

pub use changes::{Change, ChangeStatus, Task, TaskProgress};
pub use checks::{CheckInfo, CheckStatus};
pub use client::{Client, SystemInfo};
pub use container::{Container, DEFAULT_SOCKET_BASE};
pub use duration::{GoDuration, ParseDurationError};
pub use error::{Error, PathErrorKind, Result};
pub use exec::{ExecOptions, ExecOutput};
pub use files::{FileInfo, FileType, MakeDirOptions, Owner, PushOptions};
pub use ids::{ChangeId, InvalidId, NoticeId};
pub use layer::{
    Check, CheckLevel, ExecCheck, HttpCheck, Layer, LogTarget, LogTargetType, Override, Service,
    ServiceAction, Startup, TcpCheck,
};
pub use notices::{Notice, NoticeType, NoticesOptions};
pub use plan::Plan;
pub use services::{ServiceInfo, ServiceStatus};
