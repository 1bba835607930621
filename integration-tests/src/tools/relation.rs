//! `relation-get`, `relation-set`, `relation-ids`, `relation-list`, with Juju's permission
//! rules: a unit reads its own bags with this hook's pending writes, everything else as
//! committed; only the leader reads (non-peer) or writes its application bag; remote bags are
//! readable only for applications on the other side of the relation.

use serde_json::Value;

use super::flags::{self, Parsed, check_empty, flag, go_quote, switch};
use super::format::{Out, SMART};
use super::{
    Call, ToolError, failed, parse_key_values, parse_yaml_settings, usage, valid_app_name,
    valid_unit_name,
};
use crate::state::{Bag, ModelState};

/// Resolves `-r`/`--relation` (either `ID` or `endpoint:ID`), defaulting to the hook's
/// relation. Juju validates the value while parsing, so refusals are usage errors.
pub(super) fn relation_id(call: &Call<'_>, parsed: &Parsed) -> Result<Option<u32>, ToolError> {
    let Some(given) = parsed.value("r") else {
        return Ok(call.ctx.relation);
    };
    let digits = given
        .value
        .rsplit_once(':')
        .map_or(given.value.as_str(), |(_, id)| id);
    let id: i64 = go_atoi(digits).ok_or_else(|| given.invalid("invalid relation id"))?;
    let known = u32::try_from(id)
        .ok()
        .filter(|id| {
            call.state
                .relations
                .get(id)
                .is_some_and(|r| in_scope(call, r))
        })
        .ok_or_else(|| given.invalid("relation not found"))?;
    Ok(Some(known))
}

/// Whether the unit is in `rel`, as its agent sees it: from its `relation-created` hook until
/// its `relation-broken` hook has run (Juju's hook context lists no other relation; a
/// subordinate never sees the container relations of other machines).
fn in_scope(call: &Call<'_>, rel: &crate::state::RelationState) -> bool {
    rel.endpoint_of(call.app()).is_some() && rel.created.contains(call.unit())
}

/// Go's `strconv.Atoi`: optional sign, decimal digits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn require_relation(id: Option<u32>) -> Result<u32, ToolError> {
    id.ok_or_else(|| usage("no relation id specified"))
}

/// The `ep:ID` form Juju prints (`FakeId`).
pub(super) fn fake_id(state: &ModelState, rel: u32, app: &str) -> String {
    let endpoint = state
        .relations
        .get(&rel)
        .and_then(|r| r.endpoint_of(app))
        .map_or("", |e| e.endpoint.as_str());
    format!("{endpoint}:{rel}")
}

fn bag_value(bag: Bag, key: &str) -> Out {
    if key.is_empty() {
        Out::Data(Value::Object(
            bag.into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ))
    } else {
        bag.get(key).map_or(Out::Nil, |v| Out::Str(v.clone()))
    }
}

const GET_FLAGS: &[flags::Flag] = &[
    flag(&["format"]),
    flag(&["o", "output"]),
    flag(&["r", "relation"]),
    switch(&["app"]),
];

pub(super) fn relation_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(GET_FLAGS)?;
    let rel = require_relation(relation_id(call, &p)?)?;
    let mut app_mode = p.bool("app");
    let mut args = p.args.iter();
    let key = match args.next().map(String::as_str) {
        None | Some("-") => String::new(),
        Some(k) => k.to_owned(),
    };
    let target = match args.next() {
        Some(given) if app_mode => {
            if valid_app_name(given) {
                given.clone()
            } else if valid_unit_name(given) {
                ModelState::app_of_unit(given).to_owned()
            } else {
                String::new()
            }
        }
        Some(given) => {
            if !valid_unit_name(given) {
                return Err(usage(if valid_app_name(given) {
                    format!(
                        "expected unit name, got application name {}",
                        go_quote(given)
                    )
                } else {
                    format!("invalid unit name {}", go_quote(given))
                }));
            }
            given.clone()
        }
        None if app_mode => call
            .ctx
            .remote_app
            .clone()
            .ok_or_else(|| usage("no unit or application specified"))?,
        None => match (&call.ctx.remote_unit, &call.ctx.remote_app) {
            (Some(unit), _) => unit.clone(),
            (None, Some(app)) => {
                app_mode = true;
                app.clone()
            }
            (None, None) => return Err(usage("no unit or application specified")),
        },
    };
    check_empty(&args.cloned().collect::<Vec<_>>())?;

    let own_unit = call.unit().to_owned();
    let own_app = call.app().to_owned();
    let relation = call
        .state
        .relations
        .get(&rel)
        .ok_or_else(|| failed("relation not found"))?;
    // The unit's own bag, and its application's when it leads, are read locally, with this
    // hook's writes.
    let bag = if target == own_unit || (target == own_app && call.is_leader()) {
        if app_mode {
            call.state.own_app_bag(rel, &own_app)
        } else {
            call.state.own_unit_bag(rel, &own_unit)
        }
    } else {
        // Read "from the controller": committed data, and only across the relation.
        let remote_app = relation.remote_app_of(&own_app);
        if app_mode {
            if remote_app != Some(target.as_str()) {
                return Err(failed("permission denied"));
            }
            relation.app_data.get(&target).cloned().unwrap_or_default()
        } else {
            if remote_app != Some(ModelState::app_of_unit(&target)) {
                return Err(failed("permission denied"));
            }
            relation.unit_data.get(&target).cloned().ok_or_else(|| {
                failed(format!(
                    "cannot read settings for unit {} in relation {}: unit {}: settings not found",
                    go_quote(&target),
                    go_quote(&relation.key()),
                    go_quote(&target)
                ))
            })?
        }
    };
    call.write(&p, SMART, bag_value(bag, &key))
}

const SET_FLAGS: &[flags::Flag] = &[
    flag(&["r", "relation"]),
    flag(&["file"]),
    switch(&["app"]),
    flag(&["format"]),
];

pub(super) fn relation_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(SET_FLAGS)?;
    let rel = require_relation(relation_id(call, &p)?)?;
    let overrides = parse_key_values(&p.args)?;
    call.deprecated_format(&p);
    let mut settings = match p.string("file") {
        Some(path) => {
            let bytes = call.read_file_arg(path)?;
            parse_yaml_settings(&bytes)?
        }
        None => Bag::new(),
    };
    settings.extend(overrides);
    let journal = if p.bool("app") {
        if !call.is_leader() {
            return Err(failed("cannot write relation settings"));
        }
        &mut call.state.pending.app_bags
    } else {
        &mut call.state.pending.unit_bags
    };
    journal.entry(rel).or_default().extend(settings);
    Ok(())
}

const IDS_FLAGS: &[flags::Flag] = &[flag(&["format"]), flag(&["o", "output"])];

pub(super) fn relation_ids(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(IDS_FLAGS)?;
    let app = call.app().to_owned();
    let default = call.ctx.relation.and_then(|id| {
        call.state
            .relations
            .get(&id)
            .and_then(|r| r.endpoint_of(&app))
            .map(|e| e.endpoint.clone())
    });
    let mut args = p.args.iter();
    let name = match args.next() {
        Some(n) => n.clone(),
        None => default.ok_or_else(|| usage("no relation name specified"))?,
    };
    check_empty(&args.cloned().collect::<Vec<_>>())?;
    let mut ids: Vec<String> = call
        .state
        .relations
        .values()
        .filter(|r| in_scope(call, r) && r.endpoint_of(&app).is_some_and(|e| e.endpoint == name))
        .map(|r| format!("{name}:{}", r.id))
        .collect();
    ids.sort();
    call.write(&p, SMART, Out::List(ids))
}

const LIST_FLAGS: &[flags::Flag] = &[
    flag(&["format"]),
    flag(&["o", "output"]),
    flag(&["r", "relation"]),
    switch(&["app"]),
];

pub(super) fn relation_list(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(LIST_FLAGS)?;
    let rel = require_relation(relation_id(call, &p)?)?;
    check_empty(&p.args)?;
    let relation = call
        .state
        .relations
        .get(&rel)
        .ok_or_else(|| failed("relation not found"))?;
    let value = if p.bool("app") {
        Out::Str(
            relation
                .remote_app_of(call.app())
                .unwrap_or_default()
                .to_owned(),
        )
    } else {
        let mut units: Vec<String> = relation
            .members
            .get(call.unit())
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default();
        units.sort();
        Out::List(units)
    };
    call.write(&p, SMART, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_go() {
        assert_eq!(go_atoi("7"), Some(7));
        assert_eq!(go_atoi("+7"), Some(7));
        assert_eq!(go_atoi("-1"), Some(-1));
        assert_eq!(go_atoi(""), None);
        assert_eq!(go_atoi("1x"), None);
        assert_eq!(go_atoi(" 1"), None);
    }
}
