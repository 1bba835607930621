//! Failover at pod admission: a mutating webhook that admits pods with the digest-pinned
//! backups of their images, without ever touching a workload object (so GitOps tools see no
//! drift).
//!
//! - [`decision`]: the pure decision table (mode x backup phase x availability).
//! - [`pod`]: a pod's images, the backup each one has, the JSON patch.
//! - [`availability`]: bounded, shared, cached manifest checks of the originals.
//! - [`webhook`]: the AdmissionReview handler and the HTTPS server.
//! - [`tls`] and [`certs`]: the webhook's own CA and serving certificate, kept in a Secret and
//!   in the configuration's `caBundle`, reloaded without a restart.
//! - [`journal`] and [`events`]: what admission did, for `ListAdmissions` and for humans.
//!
//! Every replica serves the webhook (it reads only the `ImageBackup` cache every replica
//! keeps), not only the leader. Names and flags are fixed with the charm in
//! `ADMISSION-CONTRACT.md`; the manifests are `deploy/webhook.yaml` and the optional webhook
//! roles of `deploy/rbac.yaml`.

pub mod availability;
pub mod certs;
pub mod decision;
pub mod events;
pub mod journal;
#[cfg(test)]
mod manifests;
pub mod pod;
pub mod tls;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;

pub use decision::Mode;
pub use journal::Journal;

use crate::config::ControllerConfig;
use crate::context::Context;
use crate::run::RunError;

/// Label (on a namespace or a pod) that opts out of admission with the value [`DISABLED`].
pub const SKIP_LABEL: &str = "image-backup.k8slab.io/admission";
pub const DISABLED: &str = "disabled";
/// The one webhook of the configuration.
pub const WEBHOOK_NAME: &str = "pods.image-backup.k8slab.io";

/// The webhook's flags, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionSettings {
    pub mode: Mode,
    pub addr: SocketAddr,
    /// The Service in the controller's namespace that fronts the webhook.
    pub service: String,
    /// The MutatingWebhookConfiguration whose caBundle we keep.
    pub configuration: String,
    /// The Secret with the CA and serving certificate.
    pub secret: String,
}

/// True for a DNS-1123 subdomain (Secret and webhook configuration names).
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(crate::naming::is_dns_label)
}

/// Serves the webhook on this replica until `stop` (at once `Ok` when admission is off):
/// binds `--webhook-addr`, keeps the certificates, answers admissions.
pub fn serve<S: Future<Output = ()> + Send + 'static>(
    ctx: Arc<Context>,
    config: &ControllerConfig,
    journal: Arc<Journal>,
    stop: S,
) -> impl Future<Output = Result<(), RunError>> + Send + use<S> {
    let settings = config.admission.clone();
    let insecure = config.insecure_registries.clone();
    async move {
        if settings.mode == Mode::Off {
            return Ok(());
        }
        let addr = settings.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Http { addr, source })?;
        let serving = Arc::new(tls::ServingCert::default());
        let server_config = tls::server_config(serving.clone()).map_err(|e| RunError::Http {
            addr,
            source: std::io::Error::other(e),
        })?;
        let limits = availability::Limits::default();
        let probe = availability::RegistryProbe::new(ctx.clone(), insecure, limits.budget);
        let checker = availability::Checker::new(Arc::new(probe), limits);
        let events = events::Events::start(ctx.client.clone(), &ctx.settings.identity);
        let webhook = Arc::new(webhook::Webhook::new(
            &ctx,
            settings.mode,
            checker,
            journal,
            Some(events),
        ));
        let keeper = certs::CertKeeper {
            client: ctx.client.clone(),
            namespace: ctx.settings.namespace.clone(),
            secret: settings.secret.clone(),
            configuration: settings.configuration.clone(),
            dns_names: certs::dns_names(&settings.service, &ctx.settings.namespace),
        };
        tracing::info!(%addr, mode = settings.mode.as_str(), path = webhook::PATH, "serving the admission webhook");
        let stop = stop.shared();
        tokio::join!(
            certs::keep(keeper, serving, stop.clone()),
            webhook::serve(listener, Arc::new(server_config), webhook, stop),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for (name, ok) in [
            ("image-backup", true),
            ("image-backup-model-app", true),
            ("pods.image-backup.k8slab.io", true),
            ("Bad", false),
            ("a..b", false),
            ("", false),
        ] {
            assert_eq!(is_dns_subdomain(name), ok, "{name}");
        }
    }
}
