//! Seconds per forward, backward and AdamW step of a Llama config, and
//! tokens per second, on a rayon pool of a chosen size.
//!
//! ```text
//! cargo run -p llama --release --example step_time -- \
//!     [--config llama_60m|tiny] [--threads N] [--batch B] [--seq T] \
//!     [--steps S] [--warmup W] [--checkpointing off|layers]
//! ```
//!
//! Defaults: llama_60m, 1 thread, B = 4, T = 256, 5 timed steps after 1
//! warm-up step, no activation checkpointing. Prints the activation bytes,
//! every step and the medians. Tokens and parameters are seeded, so every
//! run computes the same losses, for any thread count.

use std::time::Instant;

use llama::model::llama::{Activations, Checkpointing, backward, forward};
use llama::optim::{AdamW, AdamWParams};
use llama::{LlamaConfig, ParamStore};

struct Args {
    config: String,
    threads: usize,
    b: usize,
    t: usize,
    steps: usize,
    warmup: usize,
    checkpointing: Checkpointing,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        config: "llama_60m".into(),
        threads: 1,
        b: 4,
        t: 256,
        steps: 5,
        warmup: 1,
        checkpointing: Checkpointing::Off,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--config" => args.config = value()?,
            "--threads" => args.threads = num(value()?)?,
            "--batch" => args.b = num(value()?)?,
            "--seq" => args.t = num(value()?)?,
            "--steps" => args.steps = num(value()?)?,
            "--warmup" => args.warmup = num(value()?)?,
            "--checkpointing" => {
                args.checkpointing = match value()?.as_str() {
                    "off" => Checkpointing::Off,
                    "layers" => Checkpointing::Layers,
                    other => return Err(format!("--checkpointing {other}: off or layers")),
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn main() -> Result<(), String> {
    let args = parse()?;
    let config = LlamaConfig::preset(&args.config).ok_or(format!(
        "unknown config {} (llama_60m or tiny)",
        args.config
    ))?;
    let (b, t) = (args.b, args.t);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| e.to_string())?;

    let mut params = ParamStore::init(&config, 0);
    let mut grads = ParamStore::zeros(params.layout());
    let mut opt = AdamW::new(params.layout(), AdamWParams::default());
    let v = config.vocab_size as u64;
    // A fixed pseudo-random token stream (an LCG), inputs and shifted targets.
    let stream: Vec<u32> = (0..(b * (t + 1)) as u64)
        .map(|i| {
            ((i.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 33)
                % v) as u32
        })
        .collect();
    let rows: Vec<&[u32]> = stream.chunks_exact(t + 1).collect();
    let tokens: Vec<u32> = rows.iter().flat_map(|r| r[..t].to_vec()).collect();
    let targets: Vec<u32> = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    let mut acts = Activations::with_checkpointing(&config, b, t, args.checkpointing);
    println!(
        "config {} B={b} T={t} threads={} checkpointing {:?}: activations {} bytes ({:.1} MiB)",
        args.config,
        args.threads,
        args.checkpointing,
        acts.bytes(),
        acts.bytes() as f64 / (1 << 20) as f64
    );

    let (mut fw, mut bw, mut op) = (Vec::new(), Vec::new(), Vec::new());
    pool.install(|| {
        for step in 0..args.warmup + args.steps {
            let start = Instant::now();
            let loss = forward(&params, &config, &tokens, &targets, b, t, &mut acts);
            let f = start.elapsed().as_secs_f64();
            let start = Instant::now();
            grads.as_mut_slice().fill(0.0);
            backward(
                &mut grads, &params, &config, &tokens, &targets, b, t, &mut acts,
            );
            let g = start.elapsed().as_secs_f64();
            let start = Instant::now();
            opt.step(&mut params, &grads, 1e-3);
            let o = start.elapsed().as_secs_f64();
            let timed = step >= args.warmup;
            println!(
                "step {step}{} loss {loss:.6} forward {f:.3} s backward {g:.3} s adamw {o:.3} s",
                if timed { "" } else { " (warm-up)" }
            );
            if timed {
                fw.push(f);
                bw.push(g);
                op.push(o);
            }
        }
    });
    let (f, g, o) = (median(&fw), median(&bw), median(&op));
    let tokens_per_step = (b * t) as f64;
    println!(
        "median forward {f:.3} s backward {g:.3} s adamw {o:.3} s | forward+backward {:.3} s \
         ({:.0} tokens/s) | step {:.3} s ({:.0} tokens/s)",
        f + g,
        tokens_per_step / (f + g),
        f + g + o,
        tokens_per_step / (f + g + o)
    );
    Ok(())
}
