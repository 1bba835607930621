//! A Kubernetes charm running a web server in its `web` workload container through Pebble.
//!
//! - On `web-pebble-ready` (and `config-changed`, `upgrade-charm`) it writes the greeting to a
//!   file in the container and, only when the service differs from Pebble's plan, adds its
//!   layer and replans: an unchanged config restarts nothing, a changed one restarts the
//!   server with its new environment.
//! - Before Pebble is up every call fails with [`pebble::Error::Connection`]: the charm waits
//!   for `pebble-ready` instead of failing the hook.
//! - On `web-pebble-custom-notice` with key [`RELOAD_NOTICE`] (the workload ran
//!   `pebble notify greeter.example.com/reload reason=...`) it restarts the server, reading the
//!   reason from the notice, which Pebble (not Juju's environment) holds.
//!
//! The directory also holds the charm's `metadata.yaml` and `config.yaml`; `tests.rs` runs the
//! charm through `charm_core::testing` against fake Pebbles.

use charm_core::pebble::{self, Container, Layer, PushOptions, Service, Startup};
use charm_core::{Charm, CharmError, Event, Model, ModelError, Status};

pub const CONTAINER: &str = "web";
pub const SERVICE: &str = "web";
/// Where the greeting is written in the container.
pub const GREETING_FILE: &str = "/etc/web/greeting.txt";
/// The custom notice the workload records to ask for a restart.
pub const RELOAD_NOTICE: &str = "greeter.example.com/reload";

#[derive(Default)]
pub struct Greeter;

impl Charm for Greeter {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        let web = model.container(CONTAINER)?;
        let outcome = match event {
            Event::PebbleReady { .. } | Event::ConfigChanged | Event::UpgradeCharm => {
                configure(model, &web).await
            }
            Event::PebbleCustomNotice { notice, .. } if notice.key == RELOAD_NOTICE => {
                reload(model, &web).await
            }
            _ => return Ok(()),
        };
        match outcome {
            Ok(()) => model.add_status(Status::active("")),
            // The container is still starting: pebble-ready will come.
            Err(ModelError::Pebble(e @ pebble::Error::Connection { .. })) => {
                tracing::info!("{e}");
                model.add_status(Status::waiting("waiting for Pebble in the web container"));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// The layer for the current config.
pub fn layer(greeting: &str, port: i64) -> Layer {
    let server = Service::new(format!(
        "/usr/bin/web-server --greeting-file {GREETING_FILE}"
    ))
    .with_summary("web server")
    .with_startup(Startup::Enabled)
    .with_env("GREETING", greeting)
    .with_env("PORT", port.to_string());
    Layer::new()
        .with_summary("greeter")
        .with_service(SERVICE, server)
}

async fn configure(model: &Model, web: &Container) -> Result<(), ModelError> {
    let config = model.config()?;
    let greeting = config.string("greeting")?.unwrap_or_default();
    let port = config.int("port")?.unwrap_or(8080);
    let pebble = web.pebble();
    let options = PushOptions {
        make_dirs: true,
        ..PushOptions::default()
    };
    pebble
        .push_bytes(GREETING_FILE, greeting.clone(), &options)
        .await?;

    let wanted = layer(&greeting, port);
    if pebble.plan().await?.services.get(SERVICE) != wanted.services.get(SERVICE) {
        // `combine`: replace our own layer's service rather than stacking layers.
        pebble.add_layer(SERVICE, &wanted, true).await?;
        // Starts the service, or restarts it when its configuration changed.
        pebble.replan_services().await?;
    }
    Ok(())
}

async fn reload(model: &Model, web: &Container) -> Result<(), ModelError> {
    // The event names the notice; its data is fetched from Pebble only now.
    let notice = model.event_notice().await?;
    let reason = notice
        .as_ref()
        .and_then(|n| n.last_data.get("reason"))
        .map_or("no reason given", String::as_str);
    tracing::info!("Restarting {SERVICE}: {reason}");
    web.pebble().restart_services(&[SERVICE]).await?;
    Ok(())
}
