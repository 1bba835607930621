//! `is-leader`, `status-set`, `status-get`, `juju-log`, `application-version-set`: what a unit
//! reports about itself. These take effect at once (Juju sends them straight to the
//! controller), so a failing hook's last status stays visible.

use serde_json::{Value, json};

use super::flags::{self, check_empty, flag, go_quote, switch};
use super::format::{Format, Out, SMART};
use super::relation::fake_id;
use super::{Call, ToolError, failed, usage};
use crate::state::{LogLine, Status};

const NOT_LEADER: &str = "this unit is not the leader";
const VALID_STATUS: [&str; 4] = ["maintenance", "blocked", "waiting", "active"];

const OUTPUT_FLAGS: &[flags::Flag] = &[flag(&["format"]), flag(&["o", "output"])];

pub(super) fn is_leader(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(OUTPUT_FLAGS)?;
    check_empty(&p.args)?;
    let leader = call.is_leader();
    call.write(&p, SMART, Out::Bool(leader))
}

pub(super) fn status_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[switch(&["application"])])?;
    let Some(status) = p.args.first() else {
        return Err(usage("invalid args, require <status> [message]"));
    };
    if !VALID_STATUS.contains(&status.as_str()) {
        return Err(usage(format!(
            "invalid status {}, expected one of [{}]",
            go_quote(status),
            VALID_STATUS.join(" ")
        )));
    }
    let message = p.args.get(1).cloned().unwrap_or_default();
    if p.args.len() > 2 {
        check_empty(&p.args[2..])?;
    }
    let record = Status::new(status, &message);
    if p.bool("application") {
        if !call.is_leader() {
            return Err(failed(NOT_LEADER));
        }
        let app = call.app().to_owned();
        let app = call
            .state
            .apps
            .get_mut(&app)
            .ok_or_else(|| failed("application not found"))?;
        app.status = record.clone();
        app.status_history.push(record);
    } else {
        let unit = call.unit().to_owned();
        let unit = call
            .state
            .unit_mut(&unit)
            .ok_or_else(|| failed("unit not found"))?;
        unit.status = record.clone();
        unit.status_history.push(record);
    }
    Ok(())
}

fn details(status: &Status, include_data: bool) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("status".into(), Value::String(status.status.clone()));
    if include_data {
        map.insert("message".into(), Value::String(status.message.clone()));
        map.insert("status-data".into(), json!({}));
    }
    Value::Object(map)
}

pub(super) fn status_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        flag(&["format"]),
        flag(&["o", "output"]),
        switch(&["include-data"]),
        switch(&["application"]),
    ])?;
    check_empty(&p.args)?;
    let include = p.bool("include-data");
    let smart = SMART.chosen(&p)? == Format::Smart;
    let value = if p.bool("application") {
        if !call.is_leader() {
            return Err(failed(format!("finding application status: {NOT_LEADER}")));
        }
        let app = call.app_state()?;
        if !include && smart {
            Out::Str(app.status.status.clone())
        } else {
            let mut d = details(&app.status, include);
            let units: serde_json::Map<String, Value> = app
                .units
                .values()
                .map(|u| (u.name.clone(), details(&u.status, include)))
                .collect();
            d["units"] = Value::Object(units);
            Out::Data(json!({ "application-status": d }))
        }
    } else {
        let unit = call
            .state
            .unit(call.unit())
            .ok_or_else(|| failed("unit not found"))?;
        if !include && smart {
            Out::Str(unit.status.status.clone())
        } else {
            Out::Data(details(&unit.status, include))
        }
    };
    call.write(&p, SMART, value)
}

/// loggo's level names, as `juju-log -l` accepts them.
fn log_level(name: &str) -> Option<&'static str> {
    match name.to_ascii_uppercase().as_str() {
        "TRACE" => Some("TRACE"),
        "DEBUG" => Some("DEBUG"),
        "INFO" => Some("INFO"),
        "WARN" | "WARNING" => Some("WARNING"),
        "ERROR" => Some("ERROR"),
        "CRITICAL" => Some("CRITICAL"),
        _ => None,
    }
}

pub(super) fn juju_log(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        switch(&["debug"]),
        flag(&["l", "log-level"]),
        flag(&["format"]),
    ])?;
    if p.args.is_empty() {
        return Err(usage("no message specified"));
    }
    let message = p.args.join(" ");
    call.deprecated_format(&p);
    let unit = call.unit().to_owned();
    let level = if p.bool("debug") {
        "DEBUG"
    } else {
        let given = p.string("l").unwrap_or("INFO");
        log_level(given).unwrap_or_else(|| {
            call.state.log.push(LogLine {
                unit: unit.clone(),
                level: "WARNING".into(),
                message: format!("Specified log level of {} is not valid", go_quote(given)),
            });
            "INFO"
        })
    };
    let prefix = match call.ctx.relation {
        Some(rel) => format!("{}: ", fake_id(call.state, rel, call.app())),
        None => String::new(),
    };
    call.state.log.push(LogLine {
        unit,
        level: level.into(),
        message: format!("{prefix}{message}"),
    });
    Ok(())
}

pub(super) fn application_version_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[])?;
    let Some(version) = p.args.first() else {
        return Err(usage("no version specified"));
    };
    check_empty(&p.args[1..])?;
    let version = version.clone();
    let unit = call.unit().to_owned();
    call.state
        .unit_mut(&unit)
        .ok_or_else(|| failed("unit not found"))?
        .workload_version = version;
    Ok(())
}
