"""Loads a checkpoint written by `lab train` into transformers and back.

    /tmp/torch-venv/bin/python ci/reference/load_checkpoint.py CHECKPOINT_DIR

CHECKPOINT_DIR is a `checkpoints/step-N` directory (model.safetensors +
config.json). The script builds `LlamaForCausalLM.from_pretrained(DIR)`,
checks that every parameter was read (none newly initialised) and that the
weights equal the file's bit for bit, and prints the loss on a fixed byte
string (a smoke test of the forward pass on our weights).
"""

import sys

import safetensors.torch
import torch
import transformers


def main() -> None:
    ckpt = sys.argv[1]
    model, info = transformers.LlamaForCausalLM.from_pretrained(
        ckpt, torch_dtype=torch.float32, output_loading_info=True
    )
    missing = info.get("missing_keys", [])
    unexpected = info.get("unexpected_keys", [])
    assert not missing and not unexpected, (missing, unexpected)
    stored = safetensors.torch.load_file(f"{ckpt}/model.safetensors")
    params = dict(model.named_parameters())
    assert set(stored) == set(params), set(stored) ^ set(params)
    for name, tensor in stored.items():
        assert torch.equal(params[name].detach(), tensor), name
    x = torch.tensor([list(b"def main():\n    return 0\n")])
    with torch.no_grad():
        loss = model(x, labels=x).loss.item()
    n = sum(p.numel() for p in model.parameters())
    print(f"{ckpt}: {n} parameters read by transformers {transformers.__version__}, "
          f"every tensor bit-identical; loss on a fixed string {loss:.4f}")


if __name__ == "__main__":
    main()
