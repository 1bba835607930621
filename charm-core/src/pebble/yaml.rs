//! The one place that touches `serde_yaml` (unmaintained upstream, so kept swappable).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Error;

/// Serialises a layer or plan to YAML.
pub(crate) fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_yaml::to_string(value).map_err(|e| Error::Layer(format!("cannot write YAML: {e}")))
}

/// Parses a layer or plan from YAML; an empty document is the default value.
pub(crate) fn from_str<T: DeserializeOwned + Default>(what: &str, text: &str) -> Result<T, Error> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_yaml::from_str(text).map_err(|e| Error::Layer(format!("cannot parse {what}: {e}")))
}
