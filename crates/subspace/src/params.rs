//! Plain-data plugin params, deserialized straight from a suite's TOML.
//!
//! A params struct derives `Default`, `Serialize`, `Deserialize` with
//! `#[serde(default, deny_unknown_fields)]`, and `DocumentedFields`; each
//! field's doc comment states its meaning, unit and default. That is all a
//! plugin writes: the docs `lab list` prints are read from those comments, and
//! the defaults from `Default`.

use documented::DocumentedFields;
use serde::{Serialize, de::DeserializeOwned};

/// What a plugin's params type must be. Implemented for every type that fits.
pub trait Params: Default + Serialize + DeserializeOwned + DocumentedFields {}
impl<T: Default + Serialize + DeserializeOwned + DocumentedFields> Params for T {}

/// One documented field of a params struct.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDoc {
    pub name: &'static str,
    /// The default, as TOML.
    pub default: String,
    pub doc: &'static str,
}

/// The documentation of every field of `P`, in declaration order.
pub fn docs<P: Params>() -> Vec<ParamDoc> {
    let defaults = toml::Table::try_from(P::default()).unwrap_or_default();
    P::FIELD_NAMES
        .iter()
        .map(|&name| ParamDoc {
            name,
            default: defaults
                .get(name)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(none)".into()),
            doc: P::get_field_docs(name).unwrap_or("").trim(),
        })
        .collect()
}

/// Parses `P` from a TOML table; missing keys take their defaults, unknown
/// keys are errors that list the known ones.
pub fn parse<P: Params>(table: &toml::Table) -> Result<P, String> {
    toml::Value::Table(table.clone())
        .try_into::<P>()
        .map_err(|e| e.message().trim().to_string())
}

/// The keys of `p` whose values differ from `P::default()`'s, as TOML: the
/// smallest table that builds `p` (empty for the defaults). Panics if `P`
/// does not serialize to a TOML table, which plain-data params always do.
pub fn non_default<P: Params>(p: &P) -> toml::Table {
    let table = |p: &P| toml::Table::try_from(p).expect("plain-data params serialize to TOML");
    let defaults = table(&P::default());
    table(p)
        .into_iter()
        .filter(|(key, value)| defaults.get(key) != Some(value))
        .collect()
}
