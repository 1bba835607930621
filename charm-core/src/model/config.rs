//! Typed charm config: `config-get` output checked against `config.yaml`, defaults applied.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::metadata::{ConfigOption, ConfigType, ConfigValue};

/// A config value that cannot be had as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The charm asked for an option `config.yaml` does not declare (a typo in the charm).
    #[error("config option `{0}` is not declared in config.yaml")]
    Unknown(String),
    /// The charm asked for a type the option is not declared with.
    #[error("config option `{option}` is {declared}, not {asked}")]
    WrongType {
        /// The option.
        option: String,
        /// Its type in `config.yaml`.
        declared: ConfigType,
        /// The Rust type asked for.
        asked: &'static str,
    },
    /// A required value is missing: the option has no default and the operator set none.
    #[error("config option `{0}` is not set and has no default")]
    Unset(String),
    /// The value does not fit the integer type asked for.
    #[error("config option `{option}` = {value} does not fit in {asked}")]
    OutOfRange {
        /// The option.
        option: String,
        /// The value Juju gave.
        value: String,
        /// The Rust type asked for.
        asked: &'static str,
    },
    /// `config-get` returned a value of another type than declared (a Juju or charm bug).
    #[error("config option `{option}` is declared {declared} but Juju gave `{value}`")]
    Invalid {
        /// The option.
        option: String,
        /// Its type in `config.yaml`.
        declared: ConfigType,
        /// The value Juju gave, as JSON.
        value: String,
    },
}

/// The charm's config for this hook.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    options: BTreeMap<String, ConfigOption>,
    values: BTreeMap<String, ConfigValue>,
}

impl Config {
    /// Builds the config from `config-get --format=json` output: every value must have its
    /// option's declared type; unset options take their default. Options Juju reports but
    /// `config.yaml` does not declare are ignored (a charm downgrade leaves them behind).
    pub fn from_juju(
        options: &BTreeMap<String, ConfigOption>,
        raw: &Map<String, Value>,
    ) -> Result<Config, ConfigError> {
        let mut values = BTreeMap::new();
        for (name, opt) in options {
            match raw.get(name) {
                None | Some(Value::Null) => {
                    if let Some(d) = &opt.default {
                        values.insert(name.clone(), d.clone());
                    }
                }
                Some(v) => {
                    let value = ConfigValue::from_json(opt.kind, v).ok_or_else(|| {
                        ConfigError::Invalid {
                            option: name.clone(),
                            declared: opt.kind,
                            value: v.to_string(),
                        }
                    })?;
                    values.insert(name.clone(), value);
                }
            }
        }
        Ok(Config {
            options: options.clone(),
            values,
        })
    }

    /// The value of `option` as `T`: `bool`, integers, `f64`, `String`, or `Option<_>` of
    /// those (`None` when unset without a default). Asking for a type that does not match the
    /// declared one is an error naming the option.
    pub fn get<T: FromConfig>(&self, option: &str) -> Result<T, ConfigError> {
        let opt = self
            .options
            .get(option)
            .ok_or_else(|| ConfigError::Unknown(option.to_string()))?;
        T::from_config(option, opt.kind, self.values.get(option))
    }

    /// `get::<Option<String>>`: string and secret options.
    pub fn string(&self, option: &str) -> Result<Option<String>, ConfigError> {
        self.get(option)
    }

    /// `get::<Option<i64>>`.
    pub fn int(&self, option: &str) -> Result<Option<i64>, ConfigError> {
        self.get(option)
    }

    /// `get::<Option<f64>>`.
    pub fn float(&self, option: &str) -> Result<Option<f64>, ConfigError> {
        self.get(option)
    }

    /// `get::<Option<bool>>`.
    pub fn boolean(&self, option: &str) -> Result<Option<bool>, ConfigError> {
        self.get(option)
    }

    /// The raw value of `option`, if set or defaulted.
    pub fn value(&self, option: &str) -> Option<&ConfigValue> {
        self.values.get(option)
    }

    /// Every option with a value.
    pub fn values(&self) -> &BTreeMap<String, ConfigValue> {
        &self.values
    }
}

/// Types a config value converts to, for [`Config::get`]-style typed reads; implement it for
/// a charm's own option types (an enum parsed from a string option, say).
pub trait FromConfig: Sized {
    /// Converts the value of `option` (declared with type `declared` in `config.yaml`;
    /// `None` when unset without default), or says why it cannot.
    fn from_config(
        option: &str,
        declared: ConfigType,
        value: Option<&ConfigValue>,
    ) -> Result<Self, ConfigError>;
}

impl<T: FromConfig> FromConfig for Option<T> {
    fn from_config(
        option: &str,
        declared: ConfigType,
        value: Option<&ConfigValue>,
    ) -> Result<Self, ConfigError> {
        match value {
            None => {
                // Still check the type, so a wrong `get` fails even while the option is unset.
                match T::from_config(option, declared, None) {
                    Err(ConfigError::Unset(_)) => Ok(None),
                    Err(e) => Err(e),
                    Ok(v) => Ok(Some(v)),
                }
            }
            Some(v) => T::from_config(option, declared, Some(v)).map(Some),
        }
    }
}

fn wrong(option: &str, declared: ConfigType, asked: &'static str) -> ConfigError {
    ConfigError::WrongType {
        option: option.to_string(),
        declared,
        asked,
    }
}

fn unset(option: &str) -> ConfigError {
    ConfigError::Unset(option.to_string())
}

impl FromConfig for String {
    fn from_config(
        option: &str,
        declared: ConfigType,
        value: Option<&ConfigValue>,
    ) -> Result<Self, ConfigError> {
        if !matches!(declared, ConfigType::String | ConfigType::Secret) {
            return Err(wrong(option, declared, "a string"));
        }
        match value {
            Some(ConfigValue::String(s)) => Ok(s.clone()),
            Some(_) => Err(wrong(option, declared, "a string")),
            None => Err(unset(option)),
        }
    }
}

impl FromConfig for bool {
    fn from_config(
        option: &str,
        declared: ConfigType,
        value: Option<&ConfigValue>,
    ) -> Result<Self, ConfigError> {
        if declared != ConfigType::Boolean {
            return Err(wrong(option, declared, "a boolean"));
        }
        match value {
            Some(ConfigValue::Boolean(b)) => Ok(*b),
            Some(_) => Err(wrong(option, declared, "a boolean")),
            None => Err(unset(option)),
        }
    }
}

impl FromConfig for f64 {
    fn from_config(
        option: &str,
        declared: ConfigType,
        value: Option<&ConfigValue>,
    ) -> Result<Self, ConfigError> {
        if declared != ConfigType::Float {
            return Err(wrong(option, declared, "a float"));
        }
        match value {
            Some(ConfigValue::Float(f)) => Ok(*f),
            Some(ConfigValue::Int(i)) => Ok(*i as f64),
            Some(_) => Err(wrong(option, declared, "a float")),
            None => Err(unset(option)),
        }
    }
}

macro_rules! from_config_int {
    ($($t:ty),*) => {$(
        impl FromConfig for $t {
            fn from_config(
                option: &str,
                declared: ConfigType,
                value: Option<&ConfigValue>,
            ) -> Result<Self, ConfigError> {
                let asked = concat!("an integer (", stringify!($t), ")");
                if declared != ConfigType::Int {
                    return Err(wrong(option, declared, asked));
                }
                match value {
                    Some(ConfigValue::Int(i)) => <$t>::try_from(*i).map_err(|_| {
                        ConfigError::OutOfRange {
                            option: option.to_string(),
                            value: i.to_string(),
                            asked,
                        }
                    }),
                    Some(_) => Err(wrong(option, declared, asked)),
                    None => Err(unset(option)),
                }
            }
        }
    )*};
}

from_config_int!(i64, i32, u16, u32, u64, usize);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Metadata;

    fn config(raw: &str) -> Result<Config, ConfigError> {
        let meta = Metadata::from_packed(
            "name: x\n",
            Some(
                r#"
options:
  fileset: {type: string}
  port: {type: int, default: 8080}
  ratio: {type: float, default: 0.5}
  debug: {type: boolean, default: false}
  creds: {type: secret}
"#,
            ),
            None,
        )
        .unwrap();
        let raw: Map<String, Value> = serde_json::from_str(raw).unwrap();
        Config::from_juju(&meta.config, &raw)
    }

    #[test]
    fn values_and_defaults_are_typed() {
        let c = config(r#"{"fileset": "/etc,/srv", "ratio": 2, "creds": "secret:abc"}"#).unwrap();
        assert_eq!(c.get::<String>("fileset").unwrap(), "/etc,/srv");
        assert_eq!(c.string("fileset").unwrap().as_deref(), Some("/etc,/srv"));
        assert_eq!(c.get::<i64>("port").unwrap(), 8080);
        assert_eq!(c.get::<u16>("port").unwrap(), 8080);
        assert_eq!(c.int("port").unwrap(), Some(8080));
        assert_eq!(
            c.get::<f64>("ratio").unwrap(),
            2.0,
            "int accepted for float"
        );
        assert!(!c.get::<bool>("debug").unwrap());
        assert_eq!(c.boolean("debug").unwrap(), Some(false));
        assert_eq!(c.get::<String>("creds").unwrap(), "secret:abc");
    }

    #[test]
    fn unset_options_are_none_or_an_error() {
        let c = config("{}").unwrap();
        assert_eq!(c.get::<Option<String>>("fileset").unwrap(), None);
        assert_eq!(
            c.get::<String>("fileset").unwrap_err(),
            ConfigError::Unset("fileset".into())
        );
        let c = config(r#"{"fileset": null}"#).unwrap();
        assert_eq!(c.string("fileset").unwrap(), None);
    }

    #[test]
    fn wrong_types_name_the_option() {
        let c = config(r#"{"fileset": "/etc"}"#).unwrap();
        let err = c.get::<i64>("fileset").unwrap_err();
        assert!(matches!(err, ConfigError::WrongType { .. }));
        assert!(err.to_string().contains("`fileset` is string"), "{err}");
        // Even when unset, asking for the wrong type is an error.
        let c = config("{}").unwrap();
        assert!(c.get::<Option<bool>>("fileset").is_err());
        assert!(c.float("port").is_err());
        assert_eq!(
            c.get::<String>("nope").unwrap_err(),
            ConfigError::Unknown("nope".into())
        );
    }

    #[test]
    fn juju_values_of_the_wrong_type_are_rejected() {
        for raw in [
            r#"{"port": "80"}"#,
            r#"{"port": 1.5}"#,
            r#"{"debug": "yes"}"#,
            r#"{"fileset": 3}"#,
        ] {
            let err = config(raw).unwrap_err();
            let option = raw.split('"').nth(1).unwrap();
            assert!(err.to_string().contains(option), "{err}");
        }
        // Undeclared options are ignored.
        assert!(config(r#"{"removed-option": 1}"#).is_ok());
    }

    #[test]
    fn out_of_range_integers_are_rejected() {
        let c = config(r#"{"port": 70000}"#).unwrap();
        assert_eq!(c.get::<u32>("port").unwrap(), 70000);
        let err = c.get::<u16>("port").unwrap_err();
        assert!(err.to_string().contains("70000"), "{err}");
        let c = config(r#"{"port": -1}"#).unwrap();
        assert!(c.get::<u64>("port").is_err());
    }
}
