//! The {{name}} charm, in the reconcile style: every event runs [`{{Type}}::reconcile`],
//! which derives everything from the model. It reads the config, checks it (bad input is a
//! Blocked status saying what to do), writes the page into the `workload` container and
//! gives Pebble the web server's layer, replanning only when the service changed; until
//! Pebble answers it waits (the container's `pebble-ready` event will come).
//!
//! A second run with nothing new changes nothing, whatever event triggers it: that is what
//! makes the charm correct under any order of events. Replace the option, the workload and
//! the body with your charm's; keep the shape: read, check, write what differs, report.

use charm_core::pebble::{self, Container, Layer, PushOptions, Service, Startup};
use charm_core::{Charm, CharmError, Model, ModelError, Status};

/// The workload container (`containers` in charmcraft.yaml).
pub const CONTAINER: &str = "workload";
/// The Pebble service running the workload.
pub const SERVICE: &str = "web";
/// The page the web server answers with.
pub const PAGE: &str = "/srv/index.html";

#[derive(Default)]
pub struct {{Type}};

impl Charm for {{Type}} {
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let greeting = model.config()?.string("greeting")?.unwrap_or_default();
        if greeting.trim().is_empty() {
            model.add_status(Status::blocked(
                "empty greeting: set one with `juju config {{name}} greeting=hello`",
            ));
            return Ok(());
        }
        let workload = model.container(CONTAINER)?;
        match configure(&workload, &greeting).await {
            Ok(()) => model.add_status(Status::active("")),
            Err(ModelError::Pebble(e @ pebble::Error::Connection { .. })) => {
                tracing::info!("{e}");
                model.add_status(Status::waiting(
                    "waiting for Pebble in the workload container",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// The web server's layer: busybox's httpd serving [`PAGE`]'s directory.
pub fn layer() -> Layer {
    let server = Service::new("/bin/httpd -f -p 8080 -h /srv")
        .with_summary("web server")
        .with_startup(Startup::Enabled);
    Layer::new()
        .with_summary("{{name}}")
        .with_service(SERVICE, server)
}

async fn configure(workload: &Container, greeting: &str) -> Result<(), ModelError> {
    let pebble = workload.pebble();
    let options = PushOptions {
        make_dirs: true,
        ..PushOptions::default()
    };
    pebble
        .push_bytes(PAGE, greeting.to_owned(), &options)
        .await?;
    let wanted = layer();
    if pebble.plan().await?.services.get(SERVICE) != wanted.services.get(SERVICE) {
        // `combine`: replace this charm's layer instead of stacking a new one.
        pebble.add_layer(SERVICE, &wanted, true).await?;
        pebble.replan_services().await?;
    }
    Ok(())
}
