//! The registry of subspace-method plugins: name → summary, params docs and
//! factory.
//!
//! A plugin is a type implementing [`SubspaceMethod`] and [`Plugin`]; the
//! `lab` crate registers every plugin in one list, one line each. A plugin
//! names the param variants the conformance kit must pass with
//! [`Plugin::conformance_params`] (its defaults unless it says more), so the
//! registration line is also all the kit needs.

use crate::SubspaceMethod;
use crate::params::{self, ParamDoc, Params};
use thiserror::Error;

/// A subspace method that can be built from TOML params.
pub trait Plugin: SubspaceMethod + Sized + 'static {
    /// Registry name, e.g. `"rrf"`.
    const NAME: &'static str;
    /// One-line summary shown by `lab list`.
    const SUMMARY: &'static str;
    /// The plain-data params.
    type Params: Params;
    /// Builds the method, or says which param value is invalid and why.
    fn new(params: Self::Params) -> Result<Self, String>;

    /// The params the conformance kit runs this plugin with, each one
    /// through every check: the defaults first, then the variants whose
    /// code paths the defaults do not reach (another precision, normalizer,
    /// truncation, warm start, block size…). Default: the defaults only.
    /// Each variant must build; a variant that does not is a kit failure.
    fn conformance_params() -> Vec<Self::Params> {
        vec![Self::Params::default()]
    }
}

/// A registered plugin.
#[derive(Clone, Copy)]
pub struct PluginEntry {
    pub name: &'static str,
    pub summary: &'static str,
    params_doc: fn() -> Vec<ParamDoc>,
    conformance: fn() -> Vec<toml::Table>,
    factory: fn(&toml::Table) -> Result<Box<dyn SubspaceMethod>, String>,
}

impl std::fmt::Debug for PluginEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PluginEntry {
    /// The entry of plugin `P`.
    pub fn of<P: Plugin>() -> Self {
        Self {
            name: P::NAME,
            summary: P::SUMMARY,
            params_doc: params::docs::<P::Params>,
            conformance: || {
                P::conformance_params()
                    .iter()
                    .map(params::non_default::<P::Params>)
                    .collect()
            },
            factory: |table| {
                let p = params::parse::<P::Params>(table)?;
                Ok(Box::new(P::new(p)?))
            },
        }
    }

    /// The documented params with their defaults.
    pub fn params(&self) -> Vec<ParamDoc> {
        (self.params_doc)()
    }

    /// The param variants the conformance kit runs, as TOML tables holding
    /// only the keys that differ from the defaults (`{}` is the defaults).
    pub fn conformance_params(&self) -> Vec<toml::Table> {
        (self.conformance)()
    }

    /// Builds the method from a TOML params table.
    pub fn build(&self, params: &toml::Table) -> Result<Box<dyn SubspaceMethod>, RegistryError> {
        (self.factory)(params).map_err(|message| RegistryError::Params {
            plugin: self.name.into(),
            message,
        })
    }

    /// Builds the method with default params.
    pub fn build_default(&self) -> Result<Box<dyn SubspaceMethod>, RegistryError> {
        self.build(&toml::Table::new())
    }
}

/// Registry misuse and bad plugin specifications.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RegistryError {
    #[error("unknown plugin `{name}`; registered plugins: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error("plugin `{name}` is registered twice; each plugin name must be unique")]
    Duplicate { name: String },
    #[error("invalid params for plugin `{plugin}`: {message}")]
    Params { plugin: String, message: String },
}

/// Name → plugin entry, in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<PluginEntry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds plugin `P`; a name already present is an error.
    pub fn register<P: Plugin>(&mut self) -> Result<&mut Self, RegistryError> {
        self.register_entry(PluginEntry::of::<P>())
    }

    /// Adds an entry; a name already present is an error.
    pub fn register_entry(&mut self, entry: PluginEntry) -> Result<&mut Self, RegistryError> {
        if self.entries.iter().any(|e| e.name == entry.name) {
            return Err(RegistryError::Duplicate {
                name: entry.name.into(),
            });
        }
        self.entries.push(entry);
        Ok(self)
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[PluginEntry] {
        &self.entries
    }

    /// The entry named `name`, or an error listing the registered names.
    pub fn get(&self, name: &str) -> Result<&PluginEntry, RegistryError> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.into(),
                known: self.entries.iter().map(|e| e.name.to_string()).collect(),
            })
    }

    /// Builds plugin `name` from a TOML params table.
    pub fn build(
        &self,
        name: &str,
        params: &toml::Table,
    ) -> Result<Box<dyn SubspaceMethod>, RegistryError> {
        self.get(name)?.build(params)
    }
}
