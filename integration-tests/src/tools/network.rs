//! `network-get`, `unit-get` and `goal-state`: where the unit lives and what the model plans.
//!
//! Each machine has one address, `10.0.0.N/24` on `eth0`; subordinates share their
//! principal's. `goal-state` leaves out `since` timestamps: the simulator has no clock.

use serde_json::{Value, json};

use super::flags::{self, check_empty, flag, go_quote, switch};
use super::format::{Out, SMART, YAML_JSON};
use super::{Call, ToolError, failed, usage};
use crate::state::ModelState;

const NETWORK_FLAGS: &[flags::Flag] = &[
    flag(&["format"]),
    flag(&["o", "output"]),
    switch(&["primary-address"]),
    switch(&["bind-address"]),
    switch(&["ingress-address"]),
    switch(&["egress-subnets"]),
    flag(&["r", "relation"]),
];

pub(super) fn network_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(NETWORK_FLAGS)?;
    // Parsed for its validation only: every binding has the same address here.
    super::relation::relation_id(call, &p)?;
    let Some(binding) = p.args.first() else {
        return Err(usage("no arguments specified"));
    };
    if binding.is_empty() {
        return Err(usage("no binding name specified"));
    }
    check_empty(&p.args[1..])?;
    let app = call.app_state()?;
    if !app.charm.bindings().any(|b| b == binding) {
        return Err(failed(format!(
            "no network config found for binding {}",
            go_quote(binding)
        )));
    }
    let address = call
        .state
        .unit(call.unit())
        .map(|u| u.address.clone())
        .unwrap_or_default();
    let (primary, bind, ingress, egress) = (
        p.bool("primary-address"),
        p.bool("bind-address"),
        p.bool("ingress-address"),
        p.bool("egress-subnets"),
    );
    let egress_subnets = json!([format!("{address}/32")]);
    if !primary && !bind && !ingress && !egress {
        // Juju's YAML carries legacy duplicates (`address`, `macaddress`, `interfacename`)
        // that its JSON leaves out.
        let json = json!({
            "bind-addresses": [{
                "mac-address": "",
                "interface-name": "eth0",
                "addresses": [{"hostname": "", "value": address, "cidr": "10.0.0.0/24"}],
            }],
            "egress-subnets": egress_subnets,
            "ingress-addresses": [address],
        });
        let yaml = json!({
            "bind-addresses": [{
                "mac-address": "",
                "interface-name": "eth0",
                "addresses": [{"hostname": "", "value": address, "cidr": "10.0.0.0/24", "address": address}],
                "macaddress": "",
                "interfacename": "eth0",
            }],
            "egress-subnets": egress_subnets,
            "ingress-addresses": [address],
        });
        let chosen = SMART.chosen(&p)?;
        let value = if chosen == super::format::Format::Json {
            json
        } else {
            yaml
        };
        return call.write(&p, SMART, Out::Data(value));
    }
    if primary {
        if bind || ingress || egress {
            return Err(failed("--primary-address must be the only flag specified"));
        }
        return call.write(&p, SMART, Out::Str(address));
    }
    let mut keys = Vec::new();
    let mut values = serde_json::Map::new();
    if bind {
        keys.push("bind-address");
        values.insert("bind-address".into(), Value::String(address.clone()));
    }
    if ingress {
        keys.push("ingress-address");
        values.insert("ingress-address".into(), Value::String(address.clone()));
    }
    if egress {
        keys.push("egress-subnets");
        values.insert("egress-subnets".into(), egress_subnets);
    }
    let value = match keys.as_slice() {
        ["egress-subnets"] => Out::List(vec![format!("{address}/32")]),
        [single] => Out::Str(values[*single].as_str().unwrap_or_default().to_owned()),
        _ => Out::Data(Value::Object(values)),
    };
    call.write(&p, SMART, value)
}

pub(super) fn unit_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"])])?;
    let Some(setting) = p.args.first() else {
        return Err(usage("no setting specified"));
    };
    if setting != "private-address" && setting != "public-address" {
        return Err(usage(format!("unknown setting {}", go_quote(setting))));
    }
    check_empty(&p.args[1..])?;
    let address = call
        .state
        .unit(call.unit())
        .map(|u| u.address.clone())
        .unwrap_or_default();
    call.write(&p, SMART, Out::Str(address))
}

pub(super) fn goal_state(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"])])?;
    check_empty(&p.args)?;
    let unit_status = |state: &ModelState, unit: &str| {
        let status = match state.unit(unit) {
            Some(u) if u.dying => "dying",
            Some(u) if u.started => "active",
            _ => "waiting",
        };
        json!({ "status": status })
    };
    let app_name = call.app().to_owned();
    let app = call.app_state()?;
    let units: serde_json::Map<String, Value> = app
        .units
        .keys()
        .map(|u| (u.clone(), unit_status(call.state, u)))
        .collect();
    let mut relations = serde_json::Map::new();
    for rel in call.state.relations.values() {
        let Some(endpoint) = rel.endpoint_of(&app_name) else {
            continue;
        };
        let Some(remote) = rel.remote_app_of(&app_name) else {
            continue;
        };
        let entry = relations
            .entry(endpoint.endpoint.clone())
            .or_insert_with(|| json!({}));
        entry[remote] = json!({"status": if rel.dying { "dying" } else { "joined" }});
        if let Some(remote_app) = call.state.apps.get(remote) {
            for u in remote_app.units.keys() {
                if u != call.unit() {
                    entry[u.as_str()] = unit_status(call.state, u);
                }
            }
        }
    }
    let value = json!({"units": units, "relations": relations});
    call.write(&p, YAML_JSON, Out::Data(value))
}
