//! The reference model, one file per part, each a `*_forward`/`*_backward`
//! pair on flat row-major f32 buffers (llm.c's `train_gpt2.c` style).
//! Forward caches what backward needs; backward accumulates (`+=`) into
//! gradient buffers, so callers zero them once per step.
//!
//! Letters used in shape comments: B batch, T sequence, C hidden,
//! NH heads, HS = C / NH head dim, F intermediate, V vocab, N = B·T rows.

pub mod attention;
pub mod crossentropy;
pub mod embedding;
pub mod linear;
pub mod llama;
pub mod rmsnorm;
pub mod rope;
pub mod swiglu;
