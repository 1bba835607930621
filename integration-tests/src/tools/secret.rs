//! The `secret-*` tools. Creation, updates, grants and removals are queued in the hook's
//! journal and applied when it succeeds; reads (and a consumer's tracked revision) take effect
//! at once, as they do against a controller.
//!
//! Owners (the application, through any of its units, or a unit) always read the latest
//! revision; consumers need a grant and stay on the revision they first read until they
//! `--refresh`. Only the leader manages application-owned secrets.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::flags::{self, check_empty, flag, go_quote, switch};
use super::format::{Out, SMART, YAML_JSON};
use super::{Call, ToolError, failed, usage, valid_app_name, valid_unit_name};
use crate::state::{Bag, Consumer, ModelState, SecretChange, SecretOwner, SecretState};

const NOT_LEADER: &str = "this unit is not the leader";
const ROTATE_POLICIES: [&str; 7] = [
    "never",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
];

/// Parses `secret:ID`, `secret://MODEL/ID` or a bare `ID` (20 characters of `0-9a-v`).
pub(crate) fn parse_secret_uri(text: &str) -> Option<String> {
    let id = if let Some(rest) = text.strip_prefix("secret://") {
        rest.split_once('/')?.1
    } else {
        text.strip_prefix("secret:").unwrap_or(text)
    };
    let valid = id.len() == 20
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c));
    valid.then(|| id.to_owned())
}

fn uri_arg(text: &str) -> Result<String, ToolError> {
    parse_secret_uri(text).ok_or_else(|| usage(format!("secret URI {} not valid", go_quote(text))))
}

/// A new secret id: base32hex of 12 bytes, like Juju's xids, derived from the model uuid and
/// a counter so runs are reproducible.
pub(crate) fn new_secret_id(state: &mut ModelState) -> String {
    state.counters.secret += 1;
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in state.uuid.bytes() {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8..].copy_from_slice(&(state.counters.secret as u32).to_be_bytes());
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    // 96 bits, padded to 100, read 5 at a time.
    bits <<= 4;
    (0..20)
        .rev()
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// The secret as this hook sees it: committed, plus what the hook created or changed.
fn view(call: &Call<'_>, id: &str) -> Option<SecretState> {
    let mut secret = call.state.secrets.get(id).cloned();
    for change in &call.state.pending.secrets {
        match change {
            SecretChange::Create(s) if s.id == id => secret = Some((**s).clone()),
            SecretChange::Update {
                id: changed,
                content,
                label,
                description,
                rotate,
                expire,
            } if changed == id => {
                if let Some(s) = secret.as_mut() {
                    if let Some(content) = content {
                        let next = s.latest() + 1;
                        s.revisions.insert(next, content.clone());
                    }
                    if label.is_some() {
                        s.label.clone_from(label);
                    }
                    if description.is_some() {
                        s.description.clone_from(description);
                    }
                    if rotate.is_some() {
                        s.rotate.clone_from(rotate);
                    }
                    if expire.is_some() {
                        s.expire.clone_from(expire);
                    }
                }
            }
            _ => {}
        }
    }
    secret
}

fn all_ids(call: &Call<'_>) -> Vec<String> {
    let mut ids: Vec<String> = call.state.secrets.keys().cloned().collect();
    for change in &call.state.pending.secrets {
        if let SecretChange::Create(s) = change {
            ids.push(s.id.clone());
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

fn owns(call: &Call<'_>, secret: &SecretState) -> bool {
    match &secret.owner {
        SecretOwner::Application(app) => app == call.app(),
        SecretOwner::Unit(unit) => unit == call.unit(),
        SecretOwner::Model => false,
    }
}

/// The secrets this unit manages (`SecretMetadata` in Juju).
fn owned(call: &Call<'_>) -> Vec<SecretState> {
    all_ids(call)
        .iter()
        .filter_map(|id| view(call, id))
        .filter(|s| owns(call, s))
        .collect()
}

/// Finds an owned secret for a management command, checking leadership.
fn managed(call: &Call<'_>, id: &str) -> Result<SecretState, ToolError> {
    let secret = view(call, id)
        .filter(|s| owns(call, s))
        .ok_or_else(|| failed(format!("secret {} not found", go_quote(id))))?;
    if matches!(secret.owner, SecretOwner::Application(_)) && !call.is_leader() {
        return Err(failed(NOT_LEADER));
    }
    Ok(secret)
}

/// Go's `time.ParseDuration` for the forms charms use (`24h`, `1h30m`, `90s`, `1.5h`).
fn valid_go_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 || rest[..number_len].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[number_len..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

fn valid_expire(text: &str) -> bool {
    let is_datetime = |t: &str| {
        let b = t.as_bytes();
        b.len() >= 19
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
                .iter()
                .all(|i| b[*i].is_ascii_digit())
    };
    is_datetime(text) || valid_go_duration(text)
}

const UPSERT_FLAGS: &[flags::Flag] = &[
    flag(&["expire"]),
    flag(&["rotate"]),
    flag(&["description"]),
    flag(&["label"]),
    flag(&["file"]),
    flag(&["owner"]),
];

/// The shared parts of `secret-add` and `secret-set`.
struct Upsert {
    owner: String,
    content: Bag,
    label: Option<String>,
    description: Option<String>,
    rotate: Option<String>,
    expire: Option<String>,
}

/// Juju's `secrets.CreateSecretData` plus `--file`: values base64-encoded unless the key ends
/// in `#base64`, `#file` keys read from a file, keys checked against Juju's rule.
fn upsert(call: &mut Call<'_>, p: &flags::Parsed, args: &[String]) -> Result<Upsert, ToolError> {
    if let Some(expire) = p.string("expire")
        && !expire.is_empty()
        && !valid_expire(expire)
    {
        return Err(usage(format!(
            "expire time or duration {} not valid",
            go_quote(expire)
        )));
    }
    if let Some(rotate) = p.string("rotate")
        && !rotate.is_empty()
        && !ROTATE_POLICIES.contains(&rotate)
    {
        return Err(usage(format!(
            "rotate policy {} not valid",
            go_quote(rotate)
        )));
    }
    let owner = p.string("owner").unwrap_or("application").to_owned();
    if owner != "application" && owner != "unit" {
        return Err(usage(format!(
            "secret owner {} not valid",
            go_quote(&owner)
        )));
    }
    let mut raw = Bag::new();
    for arg in args {
        let stripped = arg.trim_end_matches('=');
        let idx = match stripped.find('=') {
            Some(i) if i >= 1 => i,
            _ => return Err(usage(format!("key value {} not valid", go_quote(arg)))),
        };
        let (key, value) = (&arg[..idx], &arg[idx + 1..]);
        if let Some(key) = key.strip_suffix("#file") {
            let path = call.cwd.join(value);
            let content = std::fs::read(&path).map_err(|e| {
                usage(format!(
                    "reading content for secret key {}: {e}",
                    go_quote(key)
                ))
            })?;
            raw.insert(
                key.to_owned(),
                String::from_utf8_lossy(&content).into_owned(),
            );
        } else {
            raw.insert(key.to_owned(), value.to_owned());
        }
    }
    if let Some(file) = p.string("file") {
        let bytes = call.read_file_arg(file).map_err(|e| usage(e.to_string()))?;
        let from_file: Bag = serde_json::from_slice(&bytes)
            .ok()
            .or_else(|| serde_yaml::from_slice(&bytes).ok())
            .ok_or_else(|| usage(format!("cannot parse {}: not a mapping of strings", file)))?;
        raw.extend(from_file);
    }
    let mut content = Bag::new();
    for (key, value) in raw {
        let (key, encoded) = match key.strip_suffix("#base64") {
            Some(k) => (k.to_owned(), value),
            None => (key.clone(), B64.encode(value.as_bytes())),
        };
        if !valid_secret_key(&key) {
            return Err(usage(format!("key {} not valid", go_quote(&key))));
        }
        content.insert(key, encoded);
    }
    let opt = |name: &str| p.string(name).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(Upsert {
        owner,
        content,
        label: opt("label"),
        description: opt("description"),
        rotate: opt("rotate"),
        expire: opt("expire"),
    })
}

/// `^([a-z](?:-?[a-z0-9]){2,})$`
fn valid_secret_key(key: &str) -> bool {
    let b = key.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_lowercase() || b[b.len() - 1] == b'-' {
        return false;
    }
    let body_ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let no_double_dash = !key.contains("--");
    let alnum_after_first = b[1..].iter().filter(|c| **c != b'-').count() >= 2;
    body_ok && no_double_dash && alnum_after_first
}

fn check_label_free(
    call: &Call<'_>,
    label: &Option<String>,
    except: Option<&str>,
) -> Result<(), ToolError> {
    if let Some(label) = label {
        let taken = owned(call)
            .iter()
            .any(|s| s.label.as_ref() == Some(label) && Some(s.id.as_str()) != except);
        if taken {
            return Err(failed(format!(
                "secret with label {} already exists",
                go_quote(label)
            )));
        }
    }
    Ok(())
}

pub(super) fn secret_add(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(UPSERT_FLAGS)?;
    if p.args.is_empty() && p.string("file").is_none() {
        return Err(usage("missing secret value or filename"));
    }
    let args = p.args.clone();
    let up = upsert(call, &p, &args)?;
    let owner = if up.owner == "unit" {
        SecretOwner::Unit(call.unit().to_owned())
    } else {
        if !call.is_leader() {
            return Err(failed(NOT_LEADER));
        }
        SecretOwner::Application(call.app().to_owned())
    };
    if up.content.is_empty() {
        return Err(failed("empty secret value not valid"));
    }
    check_label_free(call, &up.label, None)?;
    let id = new_secret_id(call.state);
    let secret = SecretState {
        id: id.clone(),
        owner,
        revisions: [(1, up.content)].into(),
        label: up.label,
        description: up.description,
        rotate: up.rotate,
        expire: up.expire,
        grants: Default::default(),
        consumers: Default::default(),
    };
    call.state
        .pending
        .secrets
        .push(SecretChange::Create(Box::new(secret)));
    call.stdout
        .extend_from_slice(format!("secret:{id}\n").as_bytes());
    Ok(())
}

pub(super) fn secret_set(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(UPSERT_FLAGS)?;
    let Some(uri) = p.args.first() else {
        return Err(usage("missing secret URI"));
    };
    let id = uri_arg(uri)?;
    let args = p.args[1..].to_vec();
    let up = upsert(call, &p, &args)?;
    let secret = managed(call, &id)?;
    check_label_free(call, &up.label, Some(&id))?;
    let content = secret
        .revisions
        .get(&secret.latest())
        .filter(|latest| **latest == up.content)
        .map_or_else(
            || (!up.content.is_empty()).then_some(up.content.clone()),
            |_| None,
        );
    call.state.pending.secrets.push(SecretChange::Update {
        id,
        content,
        label: up.label,
        description: up.description,
        rotate: up.rotate,
        expire: up.expire,
    });
    Ok(())
}

fn decode(content: &Bag) -> Result<serde_json::Map<String, Value>, ToolError> {
    content
        .iter()
        .map(|(k, v)| {
            let bytes = B64
                .decode(v)
                .map_err(|e| failed(format!("secret value for key {}: {e}", go_quote(k))))?;
            Ok((
                k.clone(),
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            ))
        })
        .collect()
}

pub(super) fn secret_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        flag(&["format"]),
        flag(&["o", "output"]),
        flag(&["label"]),
        switch(&["peek"]),
        switch(&["refresh"]),
    ])?;
    let id = p.args.first().map(|u| uri_arg(u)).transpose()?;
    let label = p
        .string("label")
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    if id.is_none() && label.is_none() {
        return Err(usage("require either a secret URI or label"));
    }
    let (peek, refresh) = (p.bool("peek"), p.bool("refresh"));
    if peek && refresh {
        return Err(usage("specify one of --peek or --refresh but not both"));
    }
    let key = p.args.get(1).cloned();
    if p.args.len() > 2 {
        check_empty(&p.args[2..])?;
    }
    let unit = call.unit().to_owned();
    let app = call.app().to_owned();
    let id = match id {
        Some(id) => id,
        None => {
            let label = label.clone().unwrap_or_default();
            owned(call)
                .into_iter()
                .find(|s| s.label.as_ref() == Some(&label))
                .map(|s| s.id)
                .or_else(|| {
                    call.state
                        .secrets
                        .values()
                        .find(|s| {
                            s.consumers
                                .get(&unit)
                                .is_some_and(|c| c.label.as_ref() == Some(&label))
                        })
                        .map(|s| s.id.clone())
                })
                .ok_or_else(|| failed(format!("secret {} not found", go_quote(&label))))?
        }
    };
    let secret =
        view(call, &id).ok_or_else(|| failed(format!("secret {} not found", go_quote(&id))))?;
    let content = if owns(call, &secret) {
        if !p.args.is_empty() && label.is_some() {
            call.state.pending.secrets.push(SecretChange::Update {
                id: id.clone(),
                content: None,
                label: label.clone(),
                description: None,
                rotate: None,
                expire: None,
            });
        }
        secret
            .revisions
            .get(&secret.latest())
            .cloned()
            .unwrap_or_default()
    } else {
        let granted = secret.grants.contains_key(&unit) || secret.grants.contains_key(&app);
        if !granted {
            return Err(failed("permission denied"));
        }
        let latest = secret.latest();
        let stored = call
            .state
            .secrets
            .get_mut(&id)
            .ok_or_else(|| failed(format!("secret {} not found", go_quote(&id))))?;
        let consumer: &mut Consumer = stored.consumers.entry(unit.clone()).or_default();
        if !p.args.is_empty() && label.is_some() {
            consumer.label = label.clone();
        }
        let revision = if peek {
            latest
        } else if refresh || consumer.revision.is_none() {
            consumer.revision = Some(latest);
            latest
        } else {
            consumer.revision.unwrap_or(latest)
        };
        secret.revisions.get(&revision).cloned().unwrap_or_default()
    };
    let value = match key {
        None => Out::Data(Value::Object(decode(&content)?)),
        Some(key) => match key.strip_suffix("#base64") {
            Some(k) => Out::Str(
                content
                    .get(k)
                    .cloned()
                    .ok_or_else(|| failed(format!("secret key {} not found", go_quote(k))))?,
            ),
            None => {
                let decoded = decode(&content)?;
                Out::Str(
                    decoded
                        .get(&key)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            failed(format!("secret key {} not found", go_quote(&key)))
                        })?,
                )
            }
        },
    };
    call.write(&p, YAML_JSON, value)
}

/// Juju tag forms for `secret-info-get`'s access list.
fn tag_of(target: &str) -> String {
    if valid_unit_name(target) {
        format!("unit-{}", target.replace('/', "-"))
    } else {
        format!("application-{target}")
    }
}

pub(super) fn secret_info_get(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"]), flag(&["label"])])?;
    let id = p.args.first().map(|u| uri_arg(u)).transpose()?;
    let label = p
        .string("label")
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    match (&id, &label) {
        (None, None) => return Err(usage("require either a secret URI or label")),
        (Some(_), Some(_)) => {
            return Err(usage("specify either a secret URI or label but not both"));
        }
        _ => {}
    }
    if !p.args.is_empty() {
        check_empty(&p.args[1..])?;
    }
    let want = id.clone().or(label.clone()).unwrap_or_default();
    let secret = owned(call)
        .into_iter()
        .find(|s| match &id {
            Some(id) => &s.id == id,
            None => s.label == label,
        })
        .ok_or_else(|| failed(format!("secret {} not found", go_quote(&want))))?;
    let mut info = serde_json::Map::new();
    info.insert("revision".into(), json!(secret.latest()));
    info.insert(
        "label".into(),
        json!(secret.label.clone().unwrap_or_default()),
    );
    info.insert("owner".into(), json!(secret.owner.kind()));
    if let Some(d) = &secret.description {
        info.insert("description".into(), json!(d));
    }
    if let Some(r) = &secret.rotate {
        info.insert("rotation".into(), json!(r));
    }
    if let Some(e) = &secret.expire {
        info.insert("expiry".into(), json!(e));
    }
    if !secret.grants.is_empty() {
        let access: Vec<Value> = secret
            .grants
            .iter()
            .map(|(target, rel)| {
                let scope = rel
                    .and_then(|r| call.state.relations.get(&r))
                    .map(|r| format!("relation-{}", r.key().replace(':', ".").replace(' ', "#")))
                    .unwrap_or_else(|| "model".into());
                json!({"target": tag_of(target), "scope": scope, "role": "view"})
            })
            .collect();
        info.insert("access".into(), Value::Array(access));
    }
    let value = json!({ secret.id.clone(): info });
    call.write(&p, YAML_JSON, Out::Data(value))
}

pub(super) fn secret_grant(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["unit"]), flag(&["r", "relation"])])?;
    let Some(uri) = p.args.first() else {
        return Err(usage("missing secret URI"));
    };
    let id = uri_arg(uri)?;
    let rel =
        super::relation::relation_id(call, &p)?.ok_or_else(|| usage("no relation id specified"))?;
    let remote_app = call
        .state
        .relations
        .get(&rel)
        .and_then(|r| r.remote_app_of(call.app()))
        .unwrap_or_default()
        .to_owned();
    let target = match p.string("unit").filter(|u| !u.is_empty()) {
        Some(unit) => {
            if !valid_unit_name(unit) {
                return Err(usage(format!("unit {} not valid", go_quote(unit))));
            }
            if ModelState::app_of_unit(unit) != remote_app {
                return Err(usage(format!(
                    "cannot specify unit {} in relation to application {}",
                    go_quote(unit),
                    go_quote(&remote_app)
                )));
            }
            unit.to_owned()
        }
        None => remote_app,
    };
    check_empty(&p.args[1..])?;
    managed(call, &id)?;
    call.state.pending.secrets.push(SecretChange::Grant {
        id,
        target,
        relation: rel,
    });
    Ok(())
}

pub(super) fn secret_revoke(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        flag(&["app", "application"]),
        flag(&["unit"]),
        flag(&["r", "relation"]),
    ])?;
    let Some(uri) = p.args.first() else {
        return Err(usage("missing secret URI"));
    };
    let id = uri_arg(uri)?;
    let mut app = p.string("app").filter(|a| !a.is_empty()).map(str::to_owned);
    let unit = p
        .string("unit")
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    if let Some(a) = &app
        && !valid_app_name(a)
    {
        return Err(usage(format!("application {} not valid", go_quote(a))));
    }
    if let Some(u) = &unit
        && !valid_unit_name(u)
    {
        return Err(usage(format!("unit {} not valid", go_quote(u))));
    }
    if app.is_some() && unit.is_some() {
        return Err(usage("specify only one of application or unit"));
    }
    // Only an explicit -r counts here; the hook's relation is not a default for revoke.
    if p.value("r").is_some() {
        let rel = super::relation::relation_id(call, &p)?;
        if app.is_some() {
            return Err(usage("do not specify both relation and app"));
        }
        app = rel
            .and_then(|r| call.state.relations.get(&r))
            .and_then(|r| r.remote_app_of(call.app()))
            .map(str::to_owned);
    }
    let Some(target) = unit.or(app) else {
        return Err(usage("missing relation or application or unit"));
    };
    check_empty(&p.args[1..])?;
    managed(call, &id)?;
    call.state
        .pending
        .secrets
        .push(SecretChange::Revoke { id, target });
    Ok(())
}

pub(super) fn secret_remove(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["revision"])])?;
    let revision = match p.value("revision") {
        None => None,
        Some(given) => {
            let n: i64 = given.value.parse().map_err(|_| {
                given.invalid(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    go_quote(&given.value)
                ))
            })?;
            u32::try_from(n).ok().filter(|n| *n > 0)
        }
    };
    let Some(uri) = p.args.first() else {
        return Err(usage("missing secret URI"));
    };
    let id = uri_arg(uri)?;
    check_empty(&p.args[1..])?;
    managed(call, &id)?;
    call.state
        .pending
        .secrets
        .push(SecretChange::Remove { id, revision });
    Ok(())
}

pub(super) fn secret_ids(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["o", "output"])])?;
    check_empty(&p.args)?;
    let ids = owned(call).into_iter().map(|s| s.id).collect();
    call.write(&p, SMART, Out::List(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_ids() {
        let id = "cq0vbbvmp25c77bp1ad0";
        assert_eq!(
            parse_secret_uri(&format!("secret:{id}")).as_deref(),
            Some(id)
        );
        assert_eq!(
            parse_secret_uri(&format!("secret://0b1a/{id}")).as_deref(),
            Some(id)
        );
        assert_eq!(parse_secret_uri(id).as_deref(), Some(id));
        assert_eq!(parse_secret_uri("secret:short"), None);
        assert_eq!(parse_secret_uri("secret:cq0vbbvmp25c77bp1adz"), None);

        let mut state = ModelState {
            uuid: "u".into(),
            ..Default::default()
        };
        let a = new_secret_id(&mut state);
        let b = new_secret_id(&mut state);
        assert_ne!(a, b);
        assert!(parse_secret_uri(&a).is_some(), "{a}");
    }

    #[test]
    fn secret_keys_follow_juju() {
        for ok in ["abc", "pass-word", "a1b", "token"] {
            assert!(valid_secret_key(ok), "{ok}");
        }
        for bad in ["ab", "1ab", "Abc", "ab-", "a--b", "a_b"] {
            assert!(!valid_secret_key(bad), "{bad}");
        }
    }

    #[test]
    fn expiry_forms() {
        for ok in [
            "24h",
            "1h30m",
            "1.5h",
            "90s",
            "2025-01-01T06:06:06",
            "2025-01-01T06:06:06Z",
        ] {
            assert!(valid_expire(ok), "{ok}");
        }
        for bad in ["", "tomorrow", "24", "h"] {
            assert!(!valid_expire(bad), "{bad}");
        }
    }
}
