//! Every registered plugin in each of its conformance variants
//! ([`Plugin::conformance_params`](crate::Plugin::conformance_params)),
//! built from TOML as a suite would build it, and a check run on one
//! variant with the variant named in its failure.

use crate::{Registry, SubspaceMethod};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A registered plugin built with one of its conformance params.
pub struct Variant {
    /// `plugin {key = value, …}` with the keys that differ from the
    /// defaults, or `plugin (defaults)`.
    pub label: String,
    /// Those keys, as the TOML table the method was built from.
    pub params: toml::Table,
    /// Shared, so that trackers ([`crate::tracker()`]) can hold it.
    pub method: Arc<dyn SubspaceMethod>,
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl Variant {
    /// Builds `plugin` of `registry` from `params`; a table that does not
    /// build panics with the label and the registry's error.
    #[track_caller]
    pub fn build(registry: &Registry, plugin: &str, params: toml::Table) -> Self {
        let label = label(plugin, &params);
        let method = registry
            .build(plugin, &params)
            .unwrap_or_else(|e| panic!("{label}: conformance params do not build: {e}"));
        Self {
            label,
            params,
            method: Arc::from(method),
        }
    }

    /// Whether this variant is the plugin's defaults.
    pub fn is_default(&self) -> bool {
        self.params.is_empty()
    }

    /// Runs `check` on the shared method (the tracker checks take it so);
    /// a failure panics again with the label in front of the message.
    #[track_caller]
    pub fn check_shared(&self, check: impl FnOnce(&Arc<dyn SubspaceMethod>)) {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&self.method))) {
            panic!("[{}] {}", self.label, panic_message(e.as_ref()));
        }
    }

    /// Runs `check` on the method; a failure panics again with the label in
    /// front of the check's message.
    #[track_caller]
    pub fn check(&self, check: impl FnOnce(&dyn SubspaceMethod)) {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(self.method.as_ref()))) {
            panic!("[{}] {}", self.label, panic_message(e.as_ref()));
        }
    }
}

/// Every conformance variant of every plugin of `registry`, in registration
/// order and each plugin's declared order (its defaults first). A variant
/// whose backend is unavailable here (a CUDA plugin without a GPU) is left
/// out and printed as `skipped: <label> unavailable (<reason>)`.
#[track_caller]
pub fn variants(registry: &Registry) -> Vec<Variant> {
    let mut out = Vec::new();
    for entry in registry.entries() {
        for params in entry.conformance_params() {
            let v = Variant::build(registry, entry.name, params);
            match v.method.availability() {
                Ok(()) => out.push(v),
                Err(reason) => println!("skipped: {} unavailable ({reason})", v.label),
            }
        }
    }
    out
}

/// `plugin {a = 1, b = "x"}`, or `plugin (defaults)` for an empty table.
fn label(plugin: &str, params: &toml::Table) -> String {
    if params.is_empty() {
        return format!("{plugin} (defaults)");
    }
    let keys: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{plugin} {{{}}}", keys.join(", "))
}

/// The message of a caught panic (a `String` or `&str` payload).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
