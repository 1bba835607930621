//! Output the way juju/cmd formats it: `smart` (strings raw, booleans as `True`/`False`,
//! string lists one per line, anything else YAML), `yaml` and `json` (Go's encoder: sorted
//! keys, `<`, `>` and `&` escaped), each ending in one newline; `-o FILE` writes to a file.

use super::ToolError;
use super::flags::{Parsed, go_quote};

/// A value a tool prints. The variants mirror the Go types the real tools print, because
/// `smart` output depends on them (a `[]string` prints one per line, a map prints as YAML).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Nil,
    Str(String),
    Bool(bool),
    List(Vec<String>),
    Data(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Smart,
    Yaml,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Smart => "smart",
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

/// The formats a command offers and its default (`cmd.Output.AddFlags`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Formats {
    pub default: Format,
    pub allowed: &'static [Format],
}

pub(crate) const SMART: Formats = Formats {
    default: Format::Smart,
    allowed: &[Format::Json, Format::Smart, Format::Yaml],
};

pub(crate) const YAML_JSON: Formats = Formats {
    default: Format::Yaml,
    allowed: &[Format::Json, Format::Yaml],
};

impl Formats {
    /// The format chosen with `--format`, refused with Juju's message when unknown.
    pub fn chosen(&self, parsed: &Parsed) -> Result<Format, ToolError> {
        let Some(given) = parsed.value("format") else {
            return Ok(self.default);
        };
        self.allowed
            .iter()
            .copied()
            .find(|f| f.name() == given.value)
            .ok_or_else(|| given.invalid(format!("unknown format {}", go_quote(&given.value))))
    }
}

/// Renders `value`; empty output is possible (smart and yaml print nothing for nil).
pub(crate) fn render(format: Format, value: &Out) -> Result<Vec<u8>, ToolError> {
    let text = match format {
        Format::Smart => match value {
            Out::Nil => String::new(),
            Out::Str(s) => line(s),
            Out::Bool(true) => "True\n".into(),
            Out::Bool(false) => "False\n".into(),
            Out::List(items) => line(&items.join("\n")),
            Out::Data(_) => return render(Format::Yaml, value),
        },
        Format::Yaml => match value {
            Out::Nil => String::new(),
            other => {
                let yaml = serde_yaml::to_string(&to_json(other))
                    .map_err(|e| ToolError::Failed(format!("cannot format output: {e}")))?;
                line(yaml.trim_end_matches('\n'))
            }
        },
        Format::Json => {
            let json = serde_json::to_string(&to_json(value))
                .map_err(|e| ToolError::Failed(format!("cannot format output: {e}")))?;
            format!("{}\n", go_html_escape(&json))
        }
    };
    Ok(text.into_bytes())
}

fn line(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("{s}\n")
    }
}

fn to_json(value: &Out) -> serde_json::Value {
    match value {
        Out::Nil => serde_json::Value::Null,
        Out::Str(s) => serde_json::Value::String(s.clone()),
        Out::Bool(b) => serde_json::Value::Bool(*b),
        Out::List(items) => items.iter().cloned().collect(),
        Out::Data(v) => {
            let mut v = v.clone();
            go_numbers(&mut v);
            v
        }
    }
}

/// Go prints a float64 without a fractional part as an integer (`1`, not `1.0`).
fn go_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 1e15
            {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(go_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(go_numbers),
        _ => {}
    }
}

/// Go's `json.Marshal` escapes these even inside strings; charms must cope, so we do it too.
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(format: Format, value: Out) -> String {
        String::from_utf8(render(format, &value).unwrap()).unwrap()
    }

    #[test]
    fn smart_matches_juju() {
        assert_eq!(text(Format::Smart, Out::Nil), "");
        assert_eq!(text(Format::Smart, Out::Str(String::new())), "");
        assert_eq!(text(Format::Smart, Out::Str("x".into())), "x\n");
        assert_eq!(text(Format::Smart, Out::Bool(true)), "True\n");
        assert_eq!(
            text(Format::Smart, Out::List(vec!["a/0".into(), "a/1".into()])),
            "a/0\na/1\n"
        );
        assert_eq!(text(Format::Smart, Out::List(vec![])), "");
        assert_eq!(
            text(Format::Smart, Out::Data(json!({"b": "2", "a": "1"}))),
            "a: '1'\nb: '2'\n"
        );
    }

    #[test]
    fn json_is_go_shaped() {
        assert_eq!(text(Format::Json, Out::Nil), "null\n");
        assert_eq!(text(Format::Json, Out::Bool(false)), "false\n");
        assert_eq!(text(Format::Json, Out::List(vec![])), "[]\n");
        assert_eq!(
            text(Format::Json, Out::Data(json!({"z": "<a&b>", "a": 1}))),
            "{\"a\":1,\"z\":\"\\u003ca\\u0026b\\u003e\"}\n"
        );
    }

    #[test]
    fn integral_floats_print_as_integers() {
        assert_eq!(
            text(Format::Json, Out::Data(json!({"f": 1.0, "g": 1.5}))),
            "{\"f\":1,\"g\":1.5}\n"
        );
    }

    #[test]
    fn yaml_prints_nothing_for_nil() {
        assert_eq!(text(Format::Yaml, Out::Nil), "");
        assert_eq!(text(Format::Yaml, Out::Bool(true)), "true\n");
        assert_eq!(text(Format::Yaml, Out::Data(json!({}))), "{}\n");
    }
}
