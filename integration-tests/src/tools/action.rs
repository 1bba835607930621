//! `action-get`, `action-set`, `action-log`, `action-fail`: only inside an action.

use serde_json::{Map, Value};

use super::flags::{check_empty, flag, go_quote};
use super::format::{Out, SMART};
use super::{Call, ToolError, failed, usage};
use crate::state::ActionRun;

const NOT_ACTION: &str = "not running an action";
/// Keys the agent fills from the process output.
const RESERVED: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

fn action<'c>(call: &'c mut Call<'_>) -> Result<&'c mut ActionRun, ToolError> {
    call.ctx.action.as_mut().ok_or_else(|| failed(NOT_ACTION))
}

/// Keeps the context's action in the stored hook context, where the driver reads it back.
fn save(call: &mut Call<'_>) {
    if let Some(hook) = call.state.hook.as_mut() {
        hook.action = call.ctx.action.clone();
    }
}

/// Juju's action key rule: lowercase alphanumerics and hyphens, alphanumeric at both ends.
fn valid_key(key: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !key.is_empty()
        && key.chars().all(|c| ok(c) || c == '-')
        && key.chars().next().is_some_and(ok)
        && key.chars().next_back().is_some_and(ok)
}

pub(super) fn action_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"])])?;
    let keys: Vec<String> = match p.args.first() {
        Some(k) => {
            check_empty(&p.args[1..])?;
            k.split('.').map(str::to_owned).collect()
        }
        None => Vec::new(),
    };
    let params = Value::Object(action(call)?.params.clone());
    let value = if keys.is_empty() {
        Out::Data(params)
    } else {
        let mut at = Some(&params);
        for k in &keys {
            at = at.and_then(|v| v.as_object()).and_then(|m| m.get(k));
        }
        match at {
            None | Some(Value::Null) => Out::Nil,
            Some(Value::String(s)) => Out::Str(s.clone()),
            Some(Value::Bool(b)) => Out::Bool(*b),
            Some(other) => Out::Data(other.clone()),
        }
    };
    call.write(&p, SMART, value)
}

/// Juju's `addValueToMap`: nested keys create maps, overwriting non-map values on the way.
fn set_nested(target: &mut Map<String, Value>, keys: &[String], value: String) {
    let Some((last, path)) = keys.split_last() else {
        return;
    };
    let mut at = target;
    for k in path {
        let entry = at
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            unreachable!("just made an object")
        };
        at = next;
    }
    at.insert(last.clone(), Value::String(value));
}

pub(super) fn action_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    let mut pairs = Vec::new();
    for arg in &p.args {
        let Some((k, v)) = arg.split_once('=') else {
            return Err(usage(format!(
                "argument {} must be of the form key...=value",
                go_quote(arg)
            )));
        };
        let keys: Vec<String> = k.split('.').map(str::to_owned).collect();
        for key in &keys {
            if !valid_key(key) {
                return Err(usage(format!(
                    "key {} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
                    go_quote(key)
                )));
            }
            if RESERVED.contains(&key.as_str()) {
                return Err(usage(format!(
                    "cannot set reserved action key {}",
                    go_quote(key)
                )));
            }
        }
        pairs.push((keys, v.to_owned()));
    }
    let run = action(call)?;
    for (keys, value) in pairs {
        set_nested(&mut run.results, &keys, value);
    }
    save(call);
    Ok(())
}

pub(super) fn action_log(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    if p.args.is_empty() {
        return Err(usage("no message specified"));
    }
    let message = p.args.join(" ");
    action(call)?.log.push(message);
    save(call);
    Ok(())
}

pub(super) fn action_fail(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    let message = match p.args.first() {
        Some(m) => {
            check_empty(&p.args[1..])?;
            m.clone()
        }
        None => "action failed without reason given, check action for errors".into(),
    };
    let run = action(call)?;
    run.failed = true;
    run.message = Some(message);
    save(call);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_results_follow_juju() {
        let mut m = Map::new();
        let keys = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        set_nested(&mut m, &keys("foo"), "1".into());
        set_nested(&mut m, &keys("foo.bar"), "2".into());
        set_nested(&mut m, &keys("foo.baz.q"), "3".into());
        set_nested(&mut m, &keys("x"), "4".into());
        assert_eq!(
            Value::Object(m),
            json!({"foo": {"bar": "2", "baz": {"q": "3"}}, "x": "4"})
        );
    }

    #[test]
    fn keys_follow_juju() {
        for ok in ["a", "a1", "out-file", "5-o-0"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "A", "a-", "-a", "a_b", "a!"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
