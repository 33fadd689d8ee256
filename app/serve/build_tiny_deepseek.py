"""Build `tiny-deepseek-v3`: DeepSeek-V3's architecture (MLA + MoE) at toy size with random weights.

Why: tests need a real vLLM server on the real DeepSeek-V3 code path (MLA attention, routed + shared experts,
noaux_tc sigmoid routing) in seconds and without downloads. Its answers are gibberish; what is tested is the
serving path. Runs inside the vLLM venv (it imports transformers and tokenizers only), as a script:

    python build_tiny_deepseek.py OUT_DIR

MLA sizes are the ones vLLM's CPU MLA backend accepts (kv_lora_rank 512, qk_rope_head_dim 64, see MODELS.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Enough text of both scripts the project answers in for a byte-level BPE to learn some merges; the
# byte-level alphabet covers every other input anyway.
TRAINING_TEXT = [
    "Retrieval-augmented generation answers a question from passages found in your own documents.",
    "DeepSeek-V3 is a mixture-of-experts language model with multi-head latent attention.",
    "The passages are numbered, and the answer cites them like [1] or [2].",
    "vLLM serves models through an OpenAI-compatible API with paged attention and continuous batching.",
    "If the passages do not contain the answer, say that you do not know.",
    "检索增强生成根据检索到的段落回答问题，并用编号引用来源。",
    "深度求索的模型使用多头潜在注意力和混合专家结构。",
    "如果段落中没有答案，请说不知道。",
]
SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|eos|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
VOCAB_SIZE = 1024


def build_tokenizer(out_dir: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        model_max_length=2048,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_model(out_dir: Path, tokenizer) -> None:
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    torch.manual_seed(0)
    config = DeepseekV3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=2,
        first_k_dense_replace=1,  # layer 0 dense, layer 1 MoE, as DeepSeek-V3's first 3 of 61
        n_routed_experts=8,
        n_shared_experts=1,
        num_experts_per_tok=2,
        n_group=1,
        topk_group=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        q_lora_rank=None,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=64,
        v_head_dim=64,
        max_position_embeddings=2048,
        num_nextn_predict_layers=0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = DeepseekV3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out_dir)
    # transformers does not write these two routing fields; vLLM's DeepSeek-V3 code needs them.
    config_path = out_dir / "config.json"
    data = json.loads(config_path.read_text())
    data.update({"topk_method": "noaux_tc", "scoring_func": "sigmoid"})
    config_path.write_text(json.dumps(data, indent=2))


def main(out_dir: str) -> None:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    build_model(target, build_tokenizer(target))
    print(f"tiny-deepseek-v3 written to {target}")


if __name__ == "__main__":
    main(sys.argv[1])
