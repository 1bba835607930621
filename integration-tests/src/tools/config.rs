//! `config-get` and `resource-get`: what the operator configured and attached.

use serde_json::Value;

use super::flags::{self, check_empty, flag, go_quote, switch};
use super::format::{Out, SMART};
use super::{Call, ToolError, failed, usage};

const CONFIG_FLAGS: &[flags::Flag] = &[
    flag(&["format"]),
    flag(&["o", "output"]),
    switch(&["a", "all"]),
];

pub(super) fn config_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(CONFIG_FLAGS)?;
    let all = p.bool("a");
    let key = match p.args.first() {
        None => String::new(),
        Some(key) => {
            if !key.is_empty() && all {
                return Err(usage(format!(
                    "cannot use argument --all together with key {}",
                    go_quote(key)
                )));
            }
            check_empty(&p.args[1..])?;
            key.clone()
        }
    };
    let app = call.app_state()?;
    let mut settings = serde_json::Map::new();
    for (name, option) in &app.charm.config {
        let value = app
            .config
            .get(name)
            .cloned()
            .or_else(|| option.default.clone());
        match value {
            Some(v) => {
                settings.insert(name.clone(), v);
            }
            None if all => {
                settings.insert(name.clone(), Value::Null);
            }
            None => {}
        }
    }
    let value = if key.is_empty() {
        Out::Data(Value::Object(settings))
    } else {
        match settings.remove(&key) {
            None | Some(Value::Null) => Out::Nil,
            Some(Value::String(s)) => Out::Str(s),
            Some(Value::Bool(b)) => Out::Bool(b),
            Some(other) => Out::Data(other),
        }
    };
    call.write(&p, SMART, value)
}

pub(super) fn resource_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    let Some(name) = p.args.first() else {
        return Err(usage("missing required resource name"));
    };
    check_empty(&p.args[1..])?;
    let app = call.app_state()?;
    let path = app
        .resources
        .get(name)
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| {
            failed(format!(
                "could not download resource: resource {} not found",
                go_quote(name)
            ))
        })?;
    // Juju prints the path without a trailing newline.
    call.stdout.extend_from_slice(path.as_bytes());
    Ok(())
}
