//! The reference model, one file per part, each a `*_forward`/`*_backward`
//! pair on flat row-major f32 buffers (llm.c's `train_gpt2.c` style).
//! Forward caches what backward needs; backward accumulates (`+=`) into
//! gradient buffers, so callers zero them once per step.
//!
//! Every part but the embedding (O(N·C), sequential) takes a `faer::Par`
//! after its inputs and splits its work into blocks fixed by the shapes
//! alone ([`parallel`]), so its bits do not depend on the thread count; the
//! whole model ([`llama`]) takes the current rayon pool's.
//!
//! Letters used in shape comments: B batch, T sequence, C hidden,
//! NH heads, HS = C / NH head dim, F intermediate, V vocab, N = B·T rows.

pub mod attention;
pub mod crossentropy;
pub mod embedding;
pub mod fastexp;
pub mod linear;
pub mod llama;
pub mod parallel;
pub mod rmsnorm;
pub mod rope;
pub mod swiglu;
