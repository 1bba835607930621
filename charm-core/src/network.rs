//! Ports (`open-port`, `opened-ports`) and bindings (`network-get`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The protocol of an opened port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP, with a port or range.
    Tcp,
    /// UDP, with a port or range.
    Udp,
    /// ICMP (ping): no port.
    Icmp,
}

/// An opened port or port range (`8080/tcp`, `1000-2000/udp`, `icmp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Port {
    /// TCP, UDP or ICMP.
    pub protocol: Protocol,
    /// `None` for icmp.
    pub from: Option<u16>,
    /// The last port of a range; equal to `from` for a single port.
    pub to: Option<u16>,
}

impl Port {
    /// One TCP port, e.g. `Port::tcp(8080)` for [`crate::Model::open_port`] (`open-port
    /// 8080/tcp`).
    pub fn tcp(port: u16) -> Port {
        Port {
            protocol: Protocol::Tcp,
            from: Some(port),
            to: Some(port),
        }
    }
    /// One UDP port (`open-port PORT/udp`).
    pub fn udp(port: u16) -> Port {
        Port {
            protocol: Protocol::Udp,
            from: Some(port),
            to: Some(port),
        }
    }
    /// ICMP, so that the unit answers pings once exposed (`open-port icmp`).
    pub fn icmp() -> Port {
        Port {
            protocol: Protocol::Icmp,
            from: None,
            to: None,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => return f.write_str("icmp"),
        };
        match (self.from, self.to) {
            (Some(a), Some(b)) if a != b => write!(f, "{a}-{b}/{proto}"),
            (Some(a), _) => write!(f, "{a}/{proto}"),
            _ => f.write_str(proto),
        }
    }
}

impl FromStr for Port {
    type Err = String;
    fn from_str(s: &str) -> Result<Port, String> {
        if s == "icmp" {
            return Ok(Port::icmp());
        }
        let (range, proto) = s
            .split_once('/')
            .ok_or_else(|| format!("port `{s}` is not of the form N/tcp, N-M/udp or icmp"))?;
        let protocol = match proto {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(format!("port `{s}` has unknown protocol `{proto}`")),
        };
        let num = |n: &str| {
            n.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port `{s}` has invalid number `{n}`"))
        };
        let (from, to) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(range)?, num(range)?),
        };
        if to < from {
            return Err(format!("port range `{s}` ends before it starts"));
        }
        Ok(Port {
            protocol,
            from: Some(from),
            to: Some(to),
        })
    }
}

/// One address of a bound interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    /// The address's host name, when Juju knows one.
    #[serde(default)]
    pub hostname: String,
    /// An IP address or hostname.
    pub value: String,
    /// The subnet it belongs to, e.g. `10.0.0.0/24`.
    #[serde(default)]
    pub cidr: String,
}

/// A network interface a binding is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct BindAddress {
    /// The interface's MAC address (empty on Kubernetes).
    #[serde(default)]
    pub mac_address: String,
    /// The interface's name, e.g. `eth0`.
    #[serde(default)]
    pub interface_name: String,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<Address>,
}

/// `network-get` output for one binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct Network {
    /// The interfaces the workload should listen on.
    #[serde(default)]
    pub bind_addresses: Vec<BindAddress>,
    /// Subnets the unit's outgoing traffic comes from (for the other side's firewall rules).
    #[serde(default)]
    pub egress_subnets: Vec<String>,
    /// Addresses other applications should connect to, the preferred one first.
    #[serde(default)]
    pub ingress_addresses: Vec<String>,
}

impl Network {
    /// The first ingress address: what other applications should connect to.
    pub fn ingress_address(&self) -> Option<&str> {
        self.ingress_addresses.first().map(String::as_str)
    }

    /// The first bound address of the unit.
    pub fn bind_address(&self) -> Option<&str> {
        self.bind_addresses
            .iter()
            .flat_map(|b| &b.addresses)
            .map(|a| a.value.as_str())
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_round_trip() {
        for s in ["8080/tcp", "53/udp", "1000-2000/tcp", "icmp"] {
            assert_eq!(s.parse::<Port>().unwrap().to_string(), s);
        }
        assert_eq!("80/tcp".parse::<Port>().unwrap(), Port::tcp(80));
        for bad in ["80", "80/sctp", "0/tcp", "x/tcp", "20-10/tcp", "70000/udp"] {
            let err = bad.parse::<Port>().unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn network_get_output_parses() {
        let json = r#"{"bind-addresses":[{"mac-address":"aa","interface-name":"eth0",
            "addresses":[{"hostname":"","value":"10.0.0.5","cidr":"10.0.0.0/24"}]}],
            "egress-subnets":["10.0.0.5/32"],"ingress-addresses":["10.0.0.5"]}"#;
        let n: Network = serde_json::from_str(json).unwrap();
        assert_eq!(n.ingress_address(), Some("10.0.0.5"));
        assert_eq!(n.bind_address(), Some("10.0.0.5"));
        assert_eq!(n.egress_subnets, vec!["10.0.0.5/32".to_string()]);
    }
}
