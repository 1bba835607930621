//! Command-line parsing the way Juju's hook tools parse (juju/gnuflag, "option" wording):
//! long flags `--name`, `--name=value` or `--name value`; single-rune flags that may be run
//! together (`-ab`) or carry their value (`-r1`); `--` ends the options; options and
//! arguments may be interspersed. Anything unknown is a usage error, exit code 2.

use std::collections::BTreeMap;

use super::ToolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Value,
}

/// One option; `names` are its spellings without dashes (`["r", "relation"]`), the first one
/// being the name the command looks it up by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    pub names: &'static [&'static str],
    pub kind: Kind,
}

pub(crate) const fn flag(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        kind: Kind::Value,
    }
}

pub(crate) const fn switch(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        kind: Kind::Bool,
    }
}

/// The value of an option as given, with the spelling used (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Given {
    pub spelled: String,
    pub value: String,
}

impl Given {
    /// The usage error Juju prints when an option's value is refused.
    pub fn invalid(&self, why: impl std::fmt::Display) -> ToolError {
        ToolError::Usage(format!(
            "invalid value {} for option {}: {why}",
            go_quote(&self.value),
            self.spelled
        ))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Parsed {
    values: BTreeMap<&'static str, Given>,
    bools: BTreeMap<&'static str, bool>,
    pub args: Vec<String>,
    pub help: bool,
}

impl Parsed {
    pub fn value(&self, name: &str) -> Option<&Given> {
        self.values.get(name)
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|g| g.value.as_str())
    }

    pub fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

fn with_minus(name: &str) -> String {
    if name.chars().count() > 1 {
        format!("--{name}")
    } else {
        format!("-{name}")
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// Go's `%q` for strings: what Juju's messages use to quote values.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` for a list of strings: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Parses `args` against `flags`.
pub(crate) fn parse(flags: &[Flag], args: &[String]) -> Result<Parsed, ToolError> {
    let mut parsed = Parsed::default();
    let mut rest = args.iter();
    // Single-rune flags still to process from a `-abc` argument.
    let mut pending_short = String::new();
    loop {
        let (name, long, inline) = if !pending_short.is_empty() {
            let c = pending_short.remove(0);
            (c.to_string(), false, None)
        } else {
            let Some(arg) = rest.next() else { break };
            if arg == "--" {
                parsed.args.extend(rest.by_ref().cloned());
                break;
            }
            if arg == "-" || !arg.starts_with('-') {
                parsed.args.push(arg.clone());
                continue;
            }
            if let Some(long) = arg.strip_prefix("--") {
                match long.split_once('=') {
                    Some(("", _)) => {
                        return Err(ToolError::Usage(format!(
                            "empty option in argument {}",
                            go_quote(arg)
                        )));
                    }
                    Some((name, value)) => (name.to_owned(), true, Some(value.to_owned())),
                    None => (long.to_owned(), true, None),
                }
            } else {
                let mut chars = arg[1..].chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                pending_short = chars.collect();
                (first, false, None)
            }
        };
        let Some(spec) = flags.iter().find(|f| f.names.contains(&name.as_str())) else {
            if name == "help" || name == "h" {
                parsed.help = true;
                return Ok(parsed);
            }
            return Err(ToolError::Usage(format!(
                "option provided but not defined: {}",
                with_minus(&name)
            )));
        };
        let canonical = spec.names[0];
        // A short flag's explicit value is the rest of its argument, `=` included.
        let explicit = if long {
            inline
        } else if (spec.kind == Kind::Value && !pending_short.is_empty())
            || (spec.kind == Kind::Bool && pending_short.starts_with('='))
        {
            Some(std::mem::take(&mut pending_short))
        } else {
            None
        };
        let given = |value: String| Given {
            spelled: with_minus(&name),
            value,
        };
        match spec.kind {
            Kind::Bool => {
                let value = match explicit {
                    None => true,
                    Some(v) => parse_go_bool(&v).map_err(|e| given(v.clone()).invalid(e))?,
                };
                parsed.bools.insert(canonical, value);
            }
            Kind::Value => {
                let value = match explicit {
                    Some(v) => v,
                    None => rest.next().cloned().ok_or_else(|| {
                        ToolError::Usage(format!("option needs an argument: {}", with_minus(&name)))
                    })?,
                };
                parsed.values.insert(canonical, given(value));
            }
        }
    }
    Ok(parsed)
}

/// Juju's `cmd.CheckEmpty`.
pub(crate) fn check_empty(args: &[String]) -> Result<(), ToolError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Usage(format!(
            "unrecognized args: {}",
            go_quote_list(args)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        flag(&["r", "relation"]),
        switch(&["app"]),
        flag(&["format"]),
        switch(&["a", "all"]),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn usage(a: &[&str]) -> String {
        match parse(FLAGS, &args(a)) {
            Err(ToolError::Usage(m)) => m,
            other => panic!("expected usage error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_gnu_forms() {
        let p = parse(
            FLAGS,
            &args(&["key", "-r", "db:1", "--app", "--format=json", "unit/0"]),
        )
        .unwrap();
        assert_eq!(p.string("r"), Some("db:1"));
        assert_eq!(p.value("r").unwrap().spelled, "-r");
        assert!(p.bool("app"));
        assert_eq!(p.string("format"), Some("json"));
        assert_eq!(p.args, ["key", "unit/0"]);

        let p = parse(FLAGS, &args(&["-ar7", "--relation", "x:2", "--app=false"])).unwrap();
        assert!(p.bool("a"));
        assert_eq!(p.value("r").unwrap().spelled, "--relation");
        assert_eq!(p.string("r"), Some("x:2"));
        assert!(!p.bool("app"));

        let p = parse(FLAGS, &args(&["--", "--app", "-"])).unwrap();
        assert_eq!(p.args, ["--app", "-"]);
        assert!(!p.bool("app"));
    }

    #[test]
    fn refuses_what_gnuflag_refuses() {
        assert_eq!(
            usage(&["--bogus"]),
            "option provided but not defined: --bogus"
        );
        assert_eq!(usage(&["-x"]), "option provided but not defined: -x");
        // A single dash long option is read as runes: -f is unknown.
        assert_eq!(
            usage(&["-format", "json"]),
            "option provided but not defined: -f"
        );
        assert_eq!(usage(&["-r"]), "option needs an argument: -r");
        assert_eq!(usage(&["--format"]), "option needs an argument: --format");
        assert_eq!(
            usage(&["--app=maybe"]),
            "invalid value \"maybe\" for option --app: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(usage(&["--=x"]), "empty option in argument \"--=x\"");
        assert!(parse(FLAGS, &args(&["--help"])).unwrap().help);
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert_eq!(
            go_quote_list(&["a".into(), "b c".into()]),
            "[\"a\" \"b c\"]"
        );
        assert_eq!(
            check_empty(&["x".into()]).unwrap_err().to_string(),
            "unrecognized args: [\"x\"]"
        );
    }
}
