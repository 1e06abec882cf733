//! The Llama model GaLore trains, written for the lab to know every byte.
//!
//! - [`config`]: GaLore's `llama_60m` and smaller presets of the same
//!   architecture, read and written as Hugging Face `config.json`;
//! - [`params`]: the size table of every parameter, named exactly as Hugging
//!   Face names Llama's tensors in their (out, in) layout, and the flat f32
//!   store with named views cut from it, saved and loaded as safetensors;
//! - [`model`]: forward and backward passes;
//! - [`data`]: the corpus, tokenizers and seeded batches;
//! - [`optim`]: the [`optim::Optimizer`] trait, AdamW, GaLore-AdamW and the
//!   schedule;
//! - [`session`]: the one training loop, [`session::Session`].

pub mod config;
pub mod data;
pub mod model;
pub mod optim;
pub mod params;
pub mod session;

pub use config::LlamaConfig;
pub use params::{Layout, NamedTensor, ParamKind, ParamSpec, ParamStore, StoreError};
