//! URL query strings (`?action=list&path=%2Fetc`), encoded and decoded the way Go's
//! `url.Values` does, so file paths with spaces or `&` survive the trip.

/// Builds `k=v&k2=v2` from pairs, percent-encoding keys and values.
pub(crate) fn encode(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode_component(key, &mut out);
        out.push('=');
        encode_component(value, &mut out);
    }
    out
}

fn encode_component(s: &str, out: &mut String) {
    for byte in s.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

/// Splits a query string into decoded pairs; malformed escapes are kept literally.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn decode(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (decode_component(key), decode_component(value))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3).and_then(hex_pair) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_values() {
        let value = "/srv/a b&c=d/é%".to_string();
        let encoded = encode(&[("path", value.clone()), ("itself", "true".into())]);
        assert_eq!(
            encoded,
            "path=%2Fsrv%2Fa%20b%26c%3Dd%2F%C3%A9%25&itself=true"
        );
        assert_eq!(
            decode(&encoded),
            [
                ("path".to_string(), value),
                ("itself".into(), "true".into())
            ]
        );
        assert_eq!(
            decode("a=%zz&b=1+2"),
            [("a".into(), "%zz".into()), ("b".into(), "1 2".into())]
        );
    }
}
