//! The `metrics-endpoint` relation (`prometheus_scrape`), in the bag format of the
//! `prometheus_scrape` charm library (`charms.prometheus_k8s.v0.prometheus_scrape`,
//! `MetricsEndpointProvider`), so an existing Prometheus charm scrapes the controller:
//!
//! - application bag (leader): `scrape_metadata`, the JSON Juju topology (`model`,
//!   `model_uuid`, `application`, `unit`, `charm_name`), and `scrape_jobs`, a JSON list of
//!   scrape configs whose `*` host the consumer replaces with each unit's address;
//! - unit bag (every unit): `prometheus_scrape_unit_address` (the unit's bind address for the
//!   relation) and `prometheus_scrape_unit_name`.
//!
//! Keys are written only when their value changes, so Prometheus sees no spurious
//! `relation-changed`.

use std::collections::BTreeMap;

use charm_core::{Bag, Model, ModelError, Relation};
use serde_json::json;

/// The endpoint, as named in `charmcraft.yaml`.
pub const ENDPOINT: &str = "metrics-endpoint";

/// The scrape jobs: the controller's `/metrics` on every unit.
pub fn scrape_jobs(port: u16) -> String {
    json!([{
        "metrics_path": "/metrics",
        "static_configs": [{ "targets": [format!("*:{port}")] }],
    }])
    .to_string()
}

/// The Juju topology of this unit, as the library's `JujuTopology.as_dict()`.
pub fn scrape_metadata(model: &Model) -> String {
    // serde_json's `json!` keeps keys sorted; order carries no meaning to the consumer.
    json!({
        "model": model.model_name(),
        "model_uuid": model.model_uuid(),
        "application": model.app_name(),
        "unit": model.unit_name(),
        "charm_name": model.metadata().name,
    })
    .to_string()
}

/// Writes this unit's (and, as leader, the application's) side of every relation.
pub fn publish(model: &Model, port: u16) -> Result<(), ModelError> {
    let leader = model.is_leader()?;
    for relation in model.relations(ENDPOINT)? {
        if leader {
            let app: BTreeMap<&str, String> = [
                ("scrape_metadata", scrape_metadata(model)),
                ("scrape_jobs", scrape_jobs(port)),
            ]
            .into();
            write_changed(&relation, &Bag::LocalApp, app)?;
        }
        let network = model.network(ENDPOINT, Some(relation.id()))?;
        let mut unit: BTreeMap<&str, String> =
            [("prometheus_scrape_unit_name", model.unit_name().to_string())].into();
        match network.bind_address() {
            Some(address) => {
                unit.insert("prometheus_scrape_unit_address", address.to_string());
            }
            None => tracing::warn!(
                relation = %relation.id(),
                "no bind address for metrics-endpoint: Prometheus cannot scrape this unit yet"
            ),
        }
        write_changed(&relation, &Bag::LocalUnit, unit)?;
    }
    Ok(())
}

fn write_changed(
    relation: &Relation<'_>,
    bag: &Bag,
    wanted: BTreeMap<&str, String>,
) -> Result<(), ModelError> {
    let current = relation.data(bag)?;
    let changed: Vec<(&str, String)> = wanted
        .into_iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .collect();
    relation.update(bag, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_scrape_every_unit_on_the_metrics_port() {
        let jobs: serde_json::Value = serde_json::from_str(&scrape_jobs(8080)).unwrap();
        assert_eq!(
            jobs,
            json!([{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:8080"]}]}])
        );
    }
}
