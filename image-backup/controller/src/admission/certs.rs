//! Keeping the webhook's certificates in the cluster: the Secret `--webhook-secret` (shared by
//! every replica) and the `caBundle` of every webhook in `--webhook-configuration`.
//!
//! Every replica runs [`keep`]: it reads the Secret, creates it when absent, renews what
//! [`tls::renewal`] says is due, loads the serving certificate into the running server, and
//! writes the CA into the configuration where it differs. Replicas race on purpose-built
//! conditions: a create that finds the Secret already there (409), or an update on a stale
//! `resourceVersion` (409), means another replica won, so we read again and use its bundle.
//!
//! A missing webhook configuration is not an error of ours (the charm or the operator applies
//! it, maybe after us): we log it and write the CA on the next round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::tls::{self, Bundle, CA_CERT, CA_KEY, Renewal, ServingCert, TLS_CERT, TLS_KEY};
use crate::context::is_conflict;
use crate::crd::{MANAGED_BY_LABEL, MANAGER};

/// How often a healthy replica looks at the Secret again: picks up a renewal made by another
/// replica well within the months a renewal leaves before expiry.
pub const RESYNC: Duration = Duration::from_secs(600);
/// How soon after a failure it tries again.
pub const RETRY: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("Secret {0} keeps changing under us; trying again later")]
    Contended(String),
}

/// Where the certificates live and whom they are for.
#[derive(Clone)]
pub struct CertKeeper {
    pub client: Client,
    pub namespace: String,
    pub secret: String,
    pub configuration: String,
    /// The serving certificate's names: the Service's, in every form a client may use.
    pub dns_names: Vec<String>,
}

/// What one round did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    pub bundle: Bundle,
    /// This replica created or renewed the Secret.
    pub wrote_secret: bool,
    /// `Some(true)` when the caBundle was written, `Some(false)` when it already was right,
    /// `None` when the configuration does not exist.
    pub wrote_ca_bundle: Option<bool>,
}

/// `NAME`, `NAME.NS`, `NAME.NS.svc`, `NAME.NS.svc.cluster.local`.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

impl CertKeeper {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn kube(&self, what: &str) -> impl FnOnce(kube::Error) -> CertError {
        let context = format!("{what} Secret {}/{}", self.namespace, self.secret);
        move |source| CertError::Kube { context, source }
    }

    /// One round: the Secret up to date, then the caBundle.
    pub async fn sync(&self, now: Timestamp) -> Result<Synced, CertError> {
        let (bundle, wrote_secret) = self.ensure_secret(now).await?;
        let wrote_ca_bundle = self.ensure_ca_bundle(&bundle.ca_cert).await?;
        Ok(Synced {
            bundle,
            wrote_secret,
            wrote_ca_bundle,
        })
    }

    /// The bundle in the Secret, created or renewed as needed; true when we wrote it.
    async fn ensure_secret(&self, now: Timestamp) -> Result<(Bundle, bool), CertError> {
        let api = self.secrets();
        // Each lost race means another replica just wrote a good bundle; three in a row is
        // someone else fighting over the Secret.
        for _ in 0..3 {
            let current = api
                .get_opt(&self.secret)
                .await
                .map_err(self.kube("reading"))?;
            let found = current.as_ref().and_then(read_bundle);
            let renewed = match tls::renewal(found.as_ref(), &self.dns_names, now) {
                Renewal::Keep => {
                    if let Some(bundle) = found {
                        return Ok((bundle, false));
                    }
                    continue;
                }
                Renewal::Serving => match &found {
                    Some(bundle) => tls::reissue(bundle, &self.dns_names, now)?,
                    None => tls::generate(&self.dns_names, now)?,
                },
                Renewal::All => tls::generate(&self.dns_names, now)?,
            };
            let written = match current {
                None => {
                    let secret = self.secret_of(&renewed, None);
                    api.create(&post_params(), &secret).await
                }
                Some(existing) => {
                    let mut secret = self.secret_of(&renewed, Some(&existing));
                    secret.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&self.secret, &post_params(), &secret).await
                }
            };
            match written {
                Ok(_) => {
                    tracing::info!(secret = %self.secret, "webhook certificates written");
                    return Ok((renewed, true));
                }
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(self.kube("writing")(e)),
            }
        }
        Err(CertError::Contended(format!(
            "{}/{}",
            self.namespace, self.secret
        )))
    }

    /// The Secret holding `bundle`; keeps the labels and annotations of `existing`.
    fn secret_of(&self, bundle: &Bundle, existing: Option<&Secret>) -> Secret {
        let mut metadata = existing.map(|s| s.metadata.clone()).unwrap_or_default();
        metadata.name = Some(self.secret.clone());
        metadata.namespace = Some(self.namespace.clone());
        metadata.managed_fields = None;
        metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(MANAGED_BY_LABEL.to_string(), MANAGER.to_string());
        let data = [
            (CA_CERT, &bundle.ca_cert),
            (CA_KEY, &bundle.ca_key),
            (TLS_CERT, &bundle.cert),
            (TLS_KEY, &bundle.key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect();
        Secret {
            metadata,
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        }
    }

    /// Writes `ca` into every webhook of the configuration whose caBundle differs. A JSON
    /// patch with a `test` of each webhook's name, so a concurrent reordering fails the patch
    /// instead of writing into the wrong webhook.
    async fn ensure_ca_bundle(&self, ca: &str) -> Result<Option<bool>, CertError> {
        let api: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        let what = format!("MutatingWebhookConfiguration {}", self.configuration);
        let kube = |verb: &str| {
            let context = format!("{verb} {what}");
            move |source| CertError::Kube { context, source }
        };
        let Some(configuration) = api
            .get_opt(&self.configuration)
            .await
            .map_err(kube("reading"))?
        else {
            tracing::warn!(configuration = %self.configuration, "webhook configuration not found; its caBundle is written once it exists");
            return Ok(None);
        };
        let ops = ca_bundle_patch(&configuration, ca);
        if ops.is_empty() {
            return Ok(Some(false));
        }
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
            .map_err(|e| tls::TlsError::Load(format!("caBundle patch: {e}")))?;
        api.patch(
            &self.configuration,
            &PatchParams {
                field_manager: Some(MANAGER.to_string()),
                ..Default::default()
            },
            &Patch::Json::<()>(patch),
        )
        .await
        .map_err(kube("patching the caBundle of"))?;
        tracing::info!(configuration = %self.configuration, "webhook caBundle written");
        Ok(Some(true))
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.to_string()),
        ..Default::default()
    }
}

/// The bundle stored in `secret`, if it has every key.
pub fn read_bundle(secret: &Secret) -> Option<Bundle> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| String::from_utf8(data.get(key)?.0.clone()).ok();
    Some(Bundle {
        ca_cert: text(CA_CERT)?,
        ca_key: text(CA_KEY)?,
        cert: text(TLS_CERT)?,
        key: text(TLS_KEY)?,
    })
}

/// JSON patch operations setting `ca` as the caBundle of every webhook that lacks it.
pub fn ca_bundle_patch(configuration: &MutatingWebhookConfiguration, ca: &str) -> Vec<Value> {
    let mut ops = Vec::new();
    for (i, webhook) in configuration.webhooks.iter().flatten().enumerate() {
        let current = webhook
            .client_config
            .ca_bundle
            .as_ref()
            .map(|b| b.0.as_slice());
        if current == Some(ca.as_bytes()) {
            continue;
        }
        ops.push(
            json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook.name}),
        );
        ops.push(json!({
            "op": "add",
            "path": format!("/webhooks/{i}/clientConfig/caBundle"),
            "value": ByteString(ca.as_bytes().to_vec())
        }));
    }
    ops
}

/// One round of [`keep`] at `now`: sync, then load the serving certificate into `serving`
/// if it is not the one `loaded` says is there. Returns how long to wait for the next round.
pub async fn round(
    keeper: &CertKeeper,
    serving: &ServingCert,
    loaded: &mut Option<Bundle>,
    now: Timestamp,
) -> Duration {
    match keeper.sync(now).await {
        Ok(synced) => {
            if loaded.as_ref() != Some(&synced.bundle) {
                match tls::certified_key(&synced.bundle) {
                    Ok(key) => {
                        serving.set(key);
                        tracing::info!("webhook serving certificate loaded");
                        *loaded = Some(synced.bundle);
                    }
                    Err(error) => tracing::error!(%error, "cannot load the webhook certificate"),
                }
            }
            // Without a configuration, look again soon: it may be applied after us.
            if synced.wrote_ca_bundle.is_none() {
                RETRY
            } else {
                RESYNC
            }
        }
        Err(error) => {
            tracing::warn!(%error, "keeping the webhook certificates");
            RETRY
        }
    }
}

/// Keeps the certificates until `stop`: a [`round`] now, then every [`RESYNC`] ([`RETRY`]
/// after a failure).
pub async fn keep(keeper: CertKeeper, serving: Arc<ServingCert>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut loaded = None;
    loop {
        let wait = tokio::select! {
            wait = round(&keeper, &serving, &mut loaded, Timestamp::now()) => wait,
            () = &mut stop => return,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundle_patch_only_where_it_differs() {
        let configuration: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "image-backup"},
            "webhooks": [
                {"name": "a.example", "clientConfig": {"caBundle": "Q0E="}, "sideEffects": "None", "admissionReviewVersions": ["v1"]},
                {"name": "b.example", "clientConfig": {}, "sideEffects": "None", "admissionReviewVersions": ["v1"]}
            ]
        }))
        .unwrap();
        assert_eq!(
            ca_bundle_patch(&configuration, "CA"),
            [
                json!({"op": "test", "path": "/webhooks/1/name", "value": "b.example"}),
                json!({"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": "Q0E="}),
            ]
        );
        assert_eq!(ca_bundle_patch(&configuration, "other").len(), 4);
    }

    #[test]
    fn names_cover_every_form_of_the_service() {
        assert_eq!(
            dns_names("image-backup-webhook", "image-backup"),
            [
                "image-backup-webhook",
                "image-backup-webhook.image-backup",
                "image-backup-webhook.image-backup.svc",
                "image-backup-webhook.image-backup.svc.cluster.local"
            ]
        );
    }
}
