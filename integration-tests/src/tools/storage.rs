//! `storage-list`, `storage-get`, `storage-add`.

use serde_json::json;

use super::flags::{check_empty, flag, go_quote};
use super::format::{Out, SMART};
use super::{Call, ToolError, failed, usage};
use crate::charm::StorageKind;

/// Juju's storage id rule: `name/N`.
fn valid_storage_id(id: &str) -> bool {
    id.split_once('/').is_some_and(|(name, n)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    })
}

pub(super) fn storage_list(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"])])?;
    let filter = p.args.first().cloned();
    if !p.args.is_empty() {
        check_empty(&p.args[1..])?;
    }
    let mut ids: Vec<String> = call
        .state
        .unit(call.unit())
        .map(|u| u.storage.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(name) = filter {
        ids.retain(|id| id.split('/').next() == Some(name.as_str()));
    }
    call.write(&p, SMART, Out::List(ids))
}

pub(super) fn storage_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"]), flag(&["s"])])?;
    let unit = call.unit().to_owned();
    let id = match p.value("s") {
        Some(given) => {
            if !valid_storage_id(&given.value) {
                return Err(given.invalid(format!("invalid storage ID {}", go_quote(&given.value))));
            }
            let attached = call
                .state
                .unit(&unit)
                .is_some_and(|u| u.storage.contains_key(&given.value));
            if !attached {
                return Err(given.invalid(format!("storage {} not found", go_quote(&given.value))));
            }
            given.value.clone()
        }
        None => call
            .ctx
            .storage
            .clone()
            .ok_or_else(|| usage("no storage instance specified"))?,
    };
    let key = p.args.first().cloned().unwrap_or_default();
    if !p.args.is_empty() {
        check_empty(&p.args[1..])?;
    }
    let instance = call
        .state
        .unit(&unit)
        .and_then(|u| u.storage.get(&id))
        .ok_or_else(|| failed(format!("storage {} not found", go_quote(&id))))?;
    let kind = match instance.kind {
        StorageKind::Filesystem => "filesystem",
        StorageKind::Block => "block",
    };
    let location = instance.location.to_string_lossy().into_owned();
    let value = match key.as_str() {
        "" => Out::Data(json!({"kind": kind, "location": location})),
        "kind" => Out::Str(kind.into()),
        "location" => Out::Str(location),
        other => {
            return Err(failed(format!(
                "invalid storage attribute {}",
                go_quote(other)
            )));
        }
    };
    call.write(&p, SMART, value)
}

pub(super) fn storage_add(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    if p.args.is_empty() {
        return Err(usage("storage add requires a storage directive"));
    }
    let mut requests = Vec::new();
    for directive in &p.args {
        let (name, constraints) = directive
            .split_once('=')
            .unwrap_or((directive.as_str(), ""));
        // Of POOL, COUNT and SIZE only the count matters to the simulator.
        let count = constraints
            .split(',')
            .find_map(|c| c.parse::<u32>().ok())
            .unwrap_or(1);
        requests.push((name.to_owned(), count));
    }
    let charm = &call.app_state()?.charm;
    for (name, _) in &requests {
        if !charm.storage.contains_key(name) {
            return Err(failed(format!(
                "storage {} not found in charm metadata",
                go_quote(name)
            )));
        }
    }
    call.state.pending.storage_add.extend(requests);
    Ok(())
}
