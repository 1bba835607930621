//! `WWW-Authenticate` challenges (RFC 7235) as registries send them.

/// One authentication challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The challenges in one or more `WWW-Authenticate` header values; unknown schemes are
/// skipped. Preference order is the order given.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        for (scheme, params) in split_challenges(value) {
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            if scheme.eq_ignore_ascii_case("basic") {
                out.push(Challenge::Basic);
            } else if scheme.eq_ignore_ascii_case("bearer")
                && let Some(realm) = get("realm")
            {
                out.push(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scope: get("scope"),
                });
            }
        }
    }
    out
}

type Params = Vec<(String, String)>;

/// Splits `Scheme a=b, c="d,e", Other x=y` into schemes with their parameters.
fn split_challenges(value: &str) -> Vec<(String, Params)> {
    let mut out: Vec<(String, Params)> = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        // A token followed by '=' is a parameter of the current challenge; otherwise it is
        // the next scheme.
        let token_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if let Some(after_eq) = after.strip_prefix('=')
            && let Some(current) = out.last_mut()
        {
            let after_eq = after_eq.trim_start();
            let (val, remaining) = if let Some(quoted) = after_eq.strip_prefix('"') {
                read_quoted(quoted)
            } else {
                let end = after_eq.find(',').unwrap_or(after_eq.len());
                (after_eq[..end].trim().to_owned(), &after_eq[end..])
            };
            current.1.push((token.to_owned(), val));
            rest = remaining;
        } else {
            if token.is_empty() {
                // Junk such as a stray '='; skip one character to make progress.
                rest = &rest[1..];
                continue;
            }
            out.push((token.to_owned(), Vec::new()));
            rest = after;
        }
    }
    out
}

/// Reads a quoted string body (after the opening quote) with `\` escapes.
fn read_quoted(s: &str) -> (String, &str) {
    let mut val = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    val.push(escaped);
                }
            }
            '"' => return (val, &s[i + 1..]),
            c => val.push(c),
        }
    }
    (val, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        ]);
        assert_eq!(
            c,
            [Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            }]
        );
    }

    #[test]
    fn basic_and_multiple_challenges() {
        assert_eq!(
            parse_challenges([r#"Basic realm="Registry Realm""#]),
            [Challenge::Basic]
        );
        let c = parse_challenges([r#"Basic realm="a, b", Bearer realm=https://t/x, service=s"#]);
        assert_eq!(
            c,
            [
                Challenge::Basic,
                Challenge::Bearer {
                    realm: "https://t/x".into(),
                    service: Some("s".into()),
                    scope: None
                }
            ]
        );
        let c = parse_challenges(["Negotiate", r#"bearer REALM="r\"q""#]);
        assert_eq!(
            c,
            [Challenge::Bearer {
                realm: "r\"q".into(),
                service: None,
                scope: None
            }]
        );
    }

    #[test]
    fn garbage_yields_nothing_and_does_not_loop() {
        assert!(parse_challenges(["", "=", "Bearer", ",,,", "Bearer realm"]).is_empty());
    }
}
