//! Actions: parameters checked against `actions.yaml`, results flattened for `action-set`.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Model, ModelError};
use crate::event::Event;
use crate::metadata::ActionSpec;

/// Keys `action-set` reserves for Juju itself.
const RESERVED_KEYS: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

impl Model {
    fn action_spec(&self) -> Result<(&str, &ActionSpec), ModelError> {
        let event = self.event.borrow();
        let Some(Event::Action { name, .. }) = event.as_ref() else {
            return Err(ModelError::Action(
                "not running an action (action-* tools only work in actions)".into(),
            ));
        };
        let (name, spec) = self.meta.actions.get_key_value(name).ok_or_else(|| {
            ModelError::Action(format!("action `{name}` is not declared in actions.yaml"))
        })?;
        Ok((name.as_str(), spec))
    }

    /// The action's parameters (`action-get`, once per hook), checked against its schema in
    /// `actions.yaml`.
    pub fn action_params(&self) -> Result<Rc<Map<String, Value>>, ModelError> {
        let (name, spec) = self.action_spec()?;
        if let Some(p) = &self.cache.borrow().action_params {
            return Ok(p.clone());
        }
        let params = self.with_backend(|b| b.action_get())?;
        validate_params(name, spec, &params).map_err(ModelError::Action)?;
        let params = Rc::new(params);
        self.cache.borrow_mut().action_params = Some(params.clone());
        Ok(params)
    }

    /// The parameters as a serde type (field names as in `actions.yaml`, e.g. with
    /// `#[serde(rename_all = "kebab-case")]`).
    pub fn action_params_as<T: DeserializeOwned>(&self) -> Result<T, ModelError> {
        let params = self.action_params()?;
        T::deserialize(Value::Object((*params).clone()))
            .map_err(|e| ModelError::Action(format!("parameters do not fit: {e}")))
    }

    /// Adds results (nested objects are flattened with `.`: `{"a": {"b": 1}}` -> `a.b=1`);
    /// sent with one `action-set` when the hook ends.
    pub fn set_action_results(&self, results: Value) -> Result<(), ModelError> {
        self.action_spec()?;
        let flat = flatten_results(&results).map_err(ModelError::Action)?;
        let mut pending = self.pending.borrow_mut();
        for (k, v) in flat {
            if pending.action_results.contains_key(&k) {
                return Err(ModelError::Action(format!("result key `{k}` set twice")));
            }
            pending.action_results.insert(k, v);
        }
        Ok(())
    }

    /// Sends a progress message to the user running the action now (`action-log`).
    pub fn action_log(&self, message: &str) -> Result<(), ModelError> {
        self.action_spec()?;
        Ok(self.with_backend(|b| b.action_log(message))?)
    }

    /// Marks the action failed with `message` (`action-fail` at the end of the hook). The
    /// hook still succeeds: results set so far are kept, as with ops.
    pub fn fail_action(&self, message: impl Into<String>) -> Result<(), ModelError> {
        self.action_spec()?;
        self.pending.borrow_mut().action_failure = Some(message.into());
        Ok(())
    }
}

fn valid_key(key: &str) -> bool {
    // ops: ^[a-z0-9](([a-z0-9-.]+)?[a-z0-9])?$
    let b = key.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && edge(b[0])
        && edge(b[b.len() - 1])
        && b.iter().all(|c| edge(*c) || *c == b'-' || *c == b'.')
}

/// Flattens action results into `action-set` keys, validating keys as ops does.
pub fn flatten_results(results: &Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(map) = results else {
        return Err(format!("results must be a JSON object, not `{results}`"));
    };
    let mut out = BTreeMap::new();
    flatten_into(map, None, &mut out)?;
    for k in out.keys() {
        if RESERVED_KEYS.contains(&k.as_str()) {
            return Err(format!("result key `{k}` is reserved by Juju"));
        }
    }
    Ok(out)
}

fn flatten_into(
    map: &Map<String, Value>,
    parent: Option<&str>,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, value) in map {
        if !valid_key(key) {
            return Err(format!(
                "result key `{key}` is invalid: use lowercase letters, digits, `-` and `.`, \
                 starting and ending with a letter or digit"
            ));
        }
        let full = match parent {
            Some(p) => format!("{p}.{key}"),
            None => key.clone(),
        };
        match value {
            Value::Object(inner) => flatten_into(inner, Some(&full), out)?,
            other => {
                let text = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                if out.insert(full.clone(), text).is_some() {
                    return Err(format!("result key `{full}` appears twice"));
                }
            }
        }
    }
    Ok(())
}

/// Checks parameters against the action's JSON schema: required parameters, no undeclared
/// ones unless allowed, and each value's `type`, `enum`, `minimum`/`maximum`,
/// `minLength`/`maxLength` (the keywords `actions.yaml` files use; Juju checks the full schema
/// before running the action, this catches a charm/metadata mismatch with a clear message).
pub(crate) fn validate_params(
    action: &str,
    spec: &ActionSpec,
    params: &Map<String, Value>,
) -> Result<(), String> {
    for req in &spec.required {
        if !params.contains_key(req) {
            return Err(format!("action `{action}` needs parameter `{req}`"));
        }
    }
    for (name, value) in params {
        match spec.params.get(name) {
            None if spec.additional_properties => {}
            None => {
                return Err(format!(
                    "action `{action}` has no parameter `{name}` (declared: {})",
                    spec.params.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            Some(schema) => check_value(&format!("{action}.{name}"), schema, value)?,
        }
    }
    Ok(())
}

fn check_value(path: &str, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => true,
        };
        if !ok {
            return Err(format!("parameter `{path}` must be {ty}, got `{value}`"));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        return Err(format!(
            "parameter `{path}` must be one of {}, got `{value}`",
            Value::Array(choices.clone())
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("parameter `{path}` = {value} is below {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("parameter `{path}` = {value} is above {max}"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return Err(format!("parameter `{path}` is shorter than {min}"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return Err(format!("parameter `{path}` is longer than {max}"));
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            check_value(&format!("{path}[{i}]"), items, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_are_flattened_with_dots() {
        let flat = flatten_results(&json!({
            "a": {"b": 1, "c": {"d": "x"}},
            "ok": true,
            "list": [1, 2],
        }))
        .unwrap();
        let expected: BTreeMap<String, String> = [
            ("a.b", "1"),
            ("a.c.d", "x"),
            ("list", "[1,2]"),
            ("ok", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(flat, expected);
    }

    #[test]
    fn bad_result_keys_are_refused() {
        for (results, needle) in [
            (json!({"Bad": 1}), "`Bad`"),
            (json!({"-x": 1}), "`-x`"),
            (json!({"a_b": 1}), "`a_b`"),
            (json!({"a.b": 1, "a": {"b": 2}}), "twice"),
            (json!({"stdout": "x"}), "reserved"),
            (json!("text"), "object"),
        ] {
            let err = flatten_results(&results).unwrap_err();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn params_are_checked_against_the_schema() {
        let spec = ActionSpec {
            description: String::new(),
            params: [
                (
                    "image".to_string(),
                    json!({"type": "string", "minLength": 1}),
                ),
                (
                    "retries".to_string(),
                    json!({"type": "integer", "minimum": 0, "maximum": 5}),
                ),
                (
                    "mode".to_string(),
                    json!({"type": "string", "enum": ["fast", "safe"]}),
                ),
                (
                    "tags".to_string(),
                    json!({"type": "array", "items": {"type": "string"}}),
                ),
            ]
            .into_iter()
            .collect(),
            required: vec!["image".into()],
            additional_properties: false,
        };
        let check = |v: Value| validate_params("backup", &spec, v.as_object().unwrap());
        assert!(check(json!({"image": "x", "retries": 2, "mode": "safe", "tags": ["a"]})).is_ok());
        for (params, needle) in [
            (json!({}), "needs parameter `image`"),
            (json!({"image": "x", "other": 1}), "no parameter `other`"),
            (json!({"image": 3}), "must be string"),
            (json!({"image": ""}), "shorter"),
            (json!({"image": "x", "retries": 1.5}), "must be integer"),
            (json!({"image": "x", "retries": 9}), "above 5"),
            (json!({"image": "x", "retries": -1}), "below 0"),
            (json!({"image": "x", "mode": "yolo"}), "one of"),
            (json!({"image": "x", "tags": [1]}), "backup.tags[0]"),
        ] {
            let err = check(params.clone()).unwrap_err();
            assert!(err.contains(needle), "{params}: {err} lacks {needle}");
        }
    }
}
