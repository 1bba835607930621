//! `state-get`, `state-set`, `state-delete`: the unit's controller-side charm state. Changes
//! are visible to the hook at once and committed only when it succeeds.

use std::collections::BTreeMap;

use serde_json::Value;

use super::flags::{check_empty, flag, go_quote, switch};
use super::format::{Out, SMART};
use super::{Call, ToolError, failed, parse_key_values, parse_yaml_settings, usage};

const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;

/// The unit's state with this hook's changes applied.
fn current(call: &Call<'_>) -> BTreeMap<String, String> {
    let mut state = call
        .state
        .unit(call.unit())
        .map(|u| u.charm_state.clone())
        .unwrap_or_default();
    for (k, v) in &call.state.pending.charm_state {
        match v {
            Some(v) => state.insert(k.clone(), v.clone()),
            None => state.remove(k),
        };
    }
    state
}

pub(super) fn state_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        flag(&["format"]),
        flag(&["o", "output"]),
        switch(&["strict"]),
    ])?;
    let key = match p.args.first().map(String::as_str) {
        None | Some("-") => String::new(),
        Some(k) => k.to_owned(),
    };
    if !p.args.is_empty() {
        check_empty(&p.args[1..])?;
    }
    let state = current(call);
    let value = if key.is_empty() {
        Out::Data(Value::Object(
            state
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ))
    } else {
        match state.get(&key) {
            Some(v) => Out::Str(v.clone()),
            None if p.bool("strict") => {
                return Err(failed(format!("{} not found", go_quote(&key))));
            }
            None => Out::Nil,
        }
    };
    call.write(&p, SMART, value)
}

pub(super) fn state_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["file"])])?;
    let overrides = parse_key_values(&p.args)?;
    let mut settings = match p.string("file") {
        Some(path) => {
            let bytes = call.read_file_arg(path)?;
            parse_yaml_settings(&bytes)?
        }
        None => BTreeMap::new(),
    };
    settings.extend(overrides);
    for (k, v) in &settings {
        if k.len() > MAX_KEY {
            return Err(failed(format!(
                "key {} too long: {} bytes, limit {MAX_KEY}",
                go_quote(k),
                k.len()
            )));
        }
        if v.len() > MAX_VALUE {
            return Err(failed(format!(
                "value for key {} too long: {} bytes, limit {MAX_VALUE}",
                go_quote(k),
                v.len()
            )));
        }
    }
    for (k, v) in settings {
        call.state.pending.charm_state.insert(k, Some(v));
    }
    Ok(())
}

pub(super) fn state_delete(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    let Some(key) = p.args.first() else {
        return Err(usage("no key specified"));
    };
    check_empty(&p.args[1..])?;
    call.state.pending.charm_state.insert(key.clone(), None);
    Ok(())
}
