//! Running one hook: the entry point and the flow shared with the testing harness.
//!
//! 1. read the context and metadata, parse the event (unknown hook: debug log, exit 0);
//! 2. load stored state; re-run deferred events (ops' order: before the new event);
//! 3. `Emitting Juju event <name>.`, run the handler, then `collect_status`;
//! 4. commit (action results, relation data, version, status, state) and flush the logs.
//!
//! Any error stops the hook: it is logged with its cause chain, nothing is committed (Juju
//! also discards relation data of a failed hook), and the process exits 1 so Juju retries.

use std::process::ExitCode;
use std::sync::Arc;

use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

use crate::backend::Backend;
use crate::charm::{Charm, CharmError};
use crate::context::Context;
use crate::event::Event;
use crate::hooktool::HookTools;
use crate::log::{DebugRoute, JujuLogLayer, LogBuffer};
use crate::metadata::Metadata;
use crate::model::{Model, ModelError};
use crate::state::StateStore;

/// Overrides where Pebble sockets are looked for (`/charm/containers`), for running a charm
/// outside Juju against fake Pebble servers (integration tests). Juju never sets it.
pub const PEBBLE_SOCKET_BASE_VAR: &str = "CHARM_CORE_PEBBLE_SOCKET_BASE";

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A handler (or `collect_status`) returned an error.
    #[error("{event}: {}", chain(.source.as_ref()))]
    Charm {
        /// The event being handled, or `collect-status`.
        event: String,
        /// The handler's error.
        source: CharmError,
    },
    /// Committing the hook's writes, or reading stored state, failed.
    #[error("{0}")]
    Model(#[from] ModelError),
    /// The tokio runtime could not be built (out of threads or file descriptors).
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

/// An error and its causes, `a: b: c`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// The short name of the charm type, for log lines.
pub(crate) fn charm_name<C>() -> &'static str {
    let full = std::any::type_name::<C>();
    full.rsplit("::").next().unwrap_or(full)
}

/// A charm's `main`: `fn main() -> std::process::ExitCode { charm_core::main::<MyCharm>() }`.
pub fn main<C: Charm>() -> ExitCode {
    let echo = std::env::var_os("JUJU_DEBUG").is_some();
    let dispatch_path = std::env::var("JUJU_DISPATCH_PATH").unwrap_or_default();
    let buffer = LogBuffer::new(DebugRoute::for_hook(&dispatch_path, echo));
    let subscriber = tracing_subscriber::registry()
        .with(JujuLogLayer::new(buffer.clone(), echo).with_filter(JujuLogLayer::default_filter()));
    // A second global subscriber (a test calling main twice) is harmless: keep the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
    install_panic_hook(buffer.clone());

    let code = run_process::<C>(&buffer);
    // Lines logged before the model existed (or if it failed) still reach Juju.
    let mut tools = HookTools::new();
    if let Err(e) = buffer.flush(&mut tools, &mut std::io::stdout()) {
        eprintln!("cannot send logs to juju-log: {e}");
    }
    code
}

fn install_panic_hook(buffer: LogBuffer) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("Uncaught panic in charm code: {info}");
        let _ = buffer.flush(&mut HookTools::new(), &mut std::io::stdout());
        default(info);
    }));
}

fn run_process<C: Charm>(buffer: &LogBuffer) -> ExitCode {
    let ctx = match Context::from_process_env() {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!("Invalid hook environment: {e}");
            return ExitCode::FAILURE;
        }
    };
    let meta = match Metadata::from_charm_dir(&ctx.charm_dir) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            tracing::error!("Cannot load charm metadata: {e}");
            return ExitCode::FAILURE;
        }
    };
    run::<C>(ctx, meta, Box::new(HookTools::new()), buffer)
}

/// Parses the event, builds the model over `backend`, runs the hook and flushes the logs
/// through the model's backend. Errors are logged here.
fn run<C: Charm>(
    ctx: Context,
    meta: Arc<Metadata>,
    mut backend: Box<dyn Backend>,
    buffer: &LogBuffer,
) -> ExitCode {
    tracing::debug!("charm-core {} up and running.", env!("CARGO_PKG_VERSION"));
    let event = match Event::from_context(&ctx, &meta) {
        Ok(Some(e)) => e,
        Ok(None) => {
            let hook = ctx.dispatch_path.rsplit('/').next().unwrap_or_default();
            tracing::debug!("Event {hook} not defined for {}.", charm_name::<C>());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            tracing::error!("Invalid hook environment: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match StateStore::load(C::STATE, &ctx.charm_dir, backend.as_mut()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("Cannot load stored state: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut model = Model::new(ctx, meta, backend, store);
    if let Some(base) = std::env::var_os(PEBBLE_SOCKET_BASE_VAR) {
        model.set_pebble_socket_base(base);
    }
    let result = run_hook::<C>(&model, event);
    if let Err(e) = &result {
        tracing::error!("Uncaught error while in charm code: {e}");
    }
    if let Err(e) = model.flush_logs(buffer) {
        eprintln!("cannot send logs to juju-log: {e}");
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs deferred events, the event, collect-status, and commits. Shared by production and the
/// testing harness.
pub(crate) fn run_hook<C: Charm>(model: &Model, event: Event) -> Result<(), HookError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| HookError::Runtime(e.to_string()))?;
    runtime.block_on(async {
        let mut charm = C::default();
        let queue = model.state_store().deferred().map_err(ModelError::from)?;
        let mut still_deferred: Vec<Event> = Vec::new();
        // ops skips re-emission in restricted contexts (collect-metrics).
        let reemit = !matches!(event, Event::CollectMetrics);
        let queue = if reemit {
            queue
        } else {
            still_deferred = queue;
            Vec::new()
        };
        let n = queue.len();
        for (i, deferred) in queue.into_iter().enumerate() {
            tracing::debug!(
                "Re-emitting deferred event {deferred} ({} of {n} in queue).",
                i + 1
            );
            model.set_event(Some(deferred.clone()));
            handle(&mut charm, &deferred, model).await?;
            if model.take_deferred() {
                tracing::debug!("Deferring {deferred}.");
                still_deferred.push(deferred);
            }
        }

        tracing::debug!("Emitting Juju event {}.", event.ops_name());
        model.set_event(Some(event.clone()));
        handle(&mut charm, &event, model).await?;
        if model.take_deferred() {
            tracing::debug!("Deferring {event}.");
            if !still_deferred.contains(&event) {
                still_deferred.push(event.clone());
            }
        }
        charm
            .collect_status(model)
            .await
            .map_err(|source| HookError::Charm {
                event: "collect-status".into(),
                source,
            })?;
        model
            .state_store()
            .set_deferred(&still_deferred)
            .map_err(ModelError::from)?;
        model.commit()?;
        Ok(())
    })
}

async fn handle<C: Charm>(charm: &mut C, event: &Event, model: &Model) -> Result<(), HookError> {
    charm
        .handle(event, model)
        .await
        .map_err(|source| HookError::Charm {
            event: event.to_string(),
            source,
        })
}
