"""The ``tiny`` preset: a small Llama model and a tokenizer trained here, for tests.

The tokenizer is byte-level BPE (any text encodes) with digits split one by one, trained
on the agents' prompt files and schema-shaped JSON, with a ChatML chat template. The
model is a 2-layer Llama initialised from a fixed seed, so every build is identical.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

TINY_SEED = 1234
_SPECIALS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_corpus() -> list[str]:
    """Texts the tokenizer learns from: prompt files, JSON answers, finance words."""
    texts: list[str] = []
    prompts = resources.files("stockagents") / "agents" / "prompts"
    for entry in prompts.iterdir():
        if entry.name.endswith(".md"):
            texts.append(entry.read_text(encoding="utf-8"))
    lexicon = resources.files("stockagents") / "features" / "finance_lexicon.json"
    texts.append(" ".join(json.loads(lexicon.read_text(encoding="utf-8"))))
    for label, action in (("bullish", "BUY"), ("neutral", "HOLD"), ("bearish", "SELL")):
        texts.append(
            json.dumps(
                {
                    "signal": label,
                    "score": 0.42,
                    "confidence": 0.61,
                    "reasoning": "RSI and MACD show momentum; price above SMA50 and SMA200.",
                }
            )
        )
        texts.append(
            json.dumps(
                {
                    "action": action,
                    "position_size": 0.12,
                    "confidence": 0.55,
                    "stop_loss": 181.25,
                    "take_profit": 199.5,
                    "horizon_days": 5,
                    "reasoning": "Composite of analyst signals clears the threshold.",
                }
            )
        )
    return texts * 4


def build_tiny(out: Path, seed: int = TINY_SEED) -> None:
    """Train the tokenizer, initialise the model from ``seed``, save both to ``out``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tiny_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        chat_template=_CHAT_TEMPLATE,
    )
    fast.padding_side = "left"
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
