//! `open-port`, `close-port` (applied when the hook succeeds) and `opened-ports` (which, as
//! in Juju, does not show this hook's pending requests).

use std::collections::{BTreeMap, BTreeSet};

use super::flags::{check_empty, flag, go_quote, switch};
use super::format::{Out, SMART};
use super::{Call, ToolError, failed, usage};
use crate::state::{OpenedPort, PortChange, PortRange, Protocol};

/// Juju's `network.ParsePortRange`: `80`, `80/tcp`, `1000-2000/udp` or `icmp`.
pub(crate) fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let bad = || {
        format!(
            "expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp, got {}",
            go_quote(text)
        )
    };
    if text == "icmp" {
        return Ok(PortRange {
            protocol: Protocol::Icmp,
            from: 0,
            to: 0,
        });
    }
    let (ports, protocol) = match text.split_once('/') {
        None => (text, Protocol::Tcp),
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some((_, other)) => return Err(format!("invalid protocol {}", go_quote(other))),
    };
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    let (from, to) = match ports.split_once('-') {
        None => {
            let p = port(ports)?;
            (p, p)
        }
        Some((a, b)) => (port(a)?, port(b)?),
    };
    if from > to {
        return Err(format!(
            "invalid port range {}: start greater than end",
            go_quote(text)
        ));
    }
    Ok(PortRange { protocol, from, to })
}

fn change(call: &mut Call<'_>, open: bool) -> Result<(), ToolError> {
    let p = call.parse(&[flag(&["format"]), flag(&["endpoints"])])?;
    let Some(range) = p.args.first() else {
        return Err(usage("no port or range specified"));
    };
    let range = parse_port_range(&range.to_lowercase()).map_err(usage)?;
    check_empty(&p.args[1..])?;
    call.deprecated_format(&p);
    let endpoints: Vec<String> = match p.string("endpoints") {
        None | Some("") => vec![String::new()],
        Some(list) => list.split(',').map(|e| e.trim().to_owned()).collect(),
    };
    let charm = &call.app_state()?.charm;
    for endpoint in &endpoints {
        if !endpoint.is_empty() && !charm.endpoints.contains_key(endpoint) {
            return Err(failed(format!("endpoint {} not found", go_quote(endpoint))));
        }
    }
    for endpoint in endpoints {
        call.state.pending.ports.push(PortChange {
            open,
            port: OpenedPort { endpoint, range },
        });
    }
    Ok(())
}

pub(super) fn open_port(call: &mut Call<'_>) -> Result<(), ToolError> {
    change(call, true)
}

pub(super) fn close_port(call: &mut Call<'_>) -> Result<(), ToolError> {
    change(call, false)
}

pub(super) fn opened_ports(call: &mut Call<'_>) -> Result<(), ToolError> {
    let p = call.parse(&[
        flag(&["format"]),
        flag(&["o", "output"]),
        switch(&["endpoints"]),
    ])?;
    check_empty(&p.args)?;
    let ports = call
        .state
        .unit(call.unit())
        .map(|u| u.ports.clone())
        .unwrap_or_default();
    let mut by_range: BTreeMap<PortRange, BTreeSet<String>> = BTreeMap::new();
    for port in ports {
        by_range
            .entry(port.range)
            .or_default()
            .insert(port.endpoint);
    }
    let lines = by_range
        .into_iter()
        .map(|(range, endpoints)| {
            if !p.bool("endpoints") {
                range.to_string()
            } else if endpoints.contains("") {
                format!("{range} (*)")
            } else {
                let names: Vec<String> = endpoints.into_iter().collect();
                format!("{range} ({})", names.join(", "))
            }
        })
        .collect();
    call.write(&p, SMART, Out::List(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_juju() {
        assert_eq!(parse_port_range("80").unwrap().to_string(), "80/tcp");
        assert_eq!(
            parse_port_range("1000-2000/udp").unwrap().to_string(),
            "1000-2000/udp"
        );
        assert_eq!(parse_port_range("icmp").unwrap().to_string(), "icmp");
        for bad in ["", "0", "x", "80/sctp", "90-80", "70000", "80-"] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }
}
