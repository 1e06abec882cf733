#!/usr/bin/env python3
"""Seconds per training step of PyTorch's LlamaForCausalLM at GaLore's
llama_60m on the CPU: the figure crates/llama's step time is compared with.

The model is transformers.LlamaForCausalLM in float32 (hidden 512,
intermediate 1376, 8 heads, 8 layers, vocab 32000, RMSNorm eps 1e-6, RoPE
theta 10000, untied lm_head, init N(0, 0.02)), transformers' default
attention implementation. One step is: forward, the mean cross-entropy of
the logits (B, T, V) against the tokens shifted by one (as crates/llama
computes it), backward, torch.optim.AdamW.step (lr 1e-3, eps 1e-6, no
weight decay, GaLore's defaults), zero_grad. Tokens are seeded; the loss of
each step is printed so runs can be compared.

Run from the repository root, beside the Rust figure, with nothing else
heavy running:

    /tmp/torch-venv/bin/python ci/reference/torch_throughput.py --threads 2
    cargo run -p llama --release --example step_time -- --threads 2

Prints every step and the medians of forward, backward, optimizer and whole
step (seconds) and tokens per second.

Letters: B batch, T sequence, V vocab.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
import transformers

LLAMA_60M = {
    "hidden_size": 512,
    "intermediate_size": 1376,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "num_hidden_layers": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "initializer_range": 0.02,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--batch", type=int, default=4, help="B (default 4)")
    ap.add_argument("--seq", type=int, default=256, help="T (default 256)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed first steps (default 1)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**LLAMA_60M)
    model = transformers.LlamaForCausalLM(config).float().train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                            weight_decay=0.0)
    b, t, v = args.batch, args.seq, config.vocab_size
    gen = torch.Generator().manual_seed(1)
    seq = torch.randint(0, v, (b, t + 1), generator=gen)
    tokens, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()

    print(f"torch {torch.__version__} transformers {transformers.__version__} "
          f"threads {torch.get_num_threads()} attention {model.config._attn_implementation} "
          f"params {params} B={b} T={t}")
    fw, bw, op = [], [], []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        logits = model(input_ids=tokens).logits  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))
        f = time.perf_counter() - start
        start = time.perf_counter()
        loss.backward()
        g = time.perf_counter() - start
        start = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        o = time.perf_counter() - start
        timed = step >= args.warmup
        print(f"step {step}{'' if timed else ' (warm-up)'} loss {loss.item():.6f} "
              f"forward {f:.3f} s backward {g:.3f} s adamw {o:.3f} s")
        if timed:
            fw.append(f)
            bw.append(g)
            op.append(o)
    f, g, o = statistics.median(fw), statistics.median(bw), statistics.median(op)
    n = b * t
    print(f"median forward {f:.3f} s backward {g:.3f} s adamw {o:.3f} s | "
          f"forward+backward {f + g:.3f} s ({n / (f + g):.0f} tokens/s) | "
          f"step {f + g + o:.3f} s ({n / (f + g + o):.0f} tokens/s)")


if __name__ == "__main__":
    main()
