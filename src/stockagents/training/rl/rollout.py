"""The two costly passes of RL on a CPU, with the prompts' shared prefix computed once.

Every strategist prompt opens with the same system message: about two thirds of its
tokens (278 of 421 on SmolLM2). Both passes run that prefix once per batch:

* ``sample_completions`` samples with the decoding loop (``llm.hf_backend.sample_ids``: a
  prefix cache built afresh per call, since the weights change every step; finished
  rows leave the batch), without a grammar, so invalid output stays possible and is
  penalised.
* ``completion_logps`` gives the log-probabilities (and optionally entropies and the
  last hidden states, for a value head) of the completion tokens of a batch laid out as
  TRL lays it out: left-padded prompts, then right-padded completions. The shared prefix
  runs at batch size 1 and its keys and values are expanded to the batch: the same
  values and gradients as running every row whole, for fewer tokens per pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["MIN_SHARED", "completion_logps", "sample_completions", "shared_prefix"]

#: Shorter shared prefixes are not worth a separate pass.
MIN_SHARED = 16


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """The number of leading tokens every row has in common (at most the shortest row
    minus one, so each row keeps a token of its own)."""
    if not rows:
        return 0
    first, shortest = rows[0], min(len(r) for r in rows)
    n = 0
    while n < shortest - 1 and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def sample_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict[str, str]]],
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    top_p: float = 1.0,
) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, completion ids) for each prompt, sampled from ``model`` as it is now.
    A completion ends with the end-of-sequence token when the model wrote one."""
    from stockagents.llm.base import Sampling
    from stockagents.llm.hf_backend import sample_ids

    ids: list[list[int]] = [
        list(
            tokenizer.apply_chat_template(
                p, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
        for p in prompts
    ]
    prefix = shared_prefix(ids)
    eos = int(tokenizer.eos_token_id)
    was_training = model.training
    model.eval()
    try:
        outs = sample_ids(
            model,
            tokenizer,
            ids,
            Sampling(
                max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
            ),
            shared=prefix if prefix >= MIN_SHARED else 0,
        )
    finally:
        model.train(was_training)
    # the loop drops the end-of-sequence token it stops on: put it back, so the model is
    # trained to stop there and a finished answer is not taken for a truncated one
    return ids, [[*out, eos] if len(out) < max_new_tokens else out for out in outs]


def _backbone(model: Any) -> Any:
    """The decoder stack under the LM head (inside peft's wrapper, if any)."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    return causal.model


def _plain(model: Any, input_ids: Any, attention_mask: Any, keep: int) -> Any:
    """Hidden states before each completion token, without sharing (the fallback)."""
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    hidden = _backbone(model)(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False
    ).last_hidden_state
    return hidden[:, -keep - 1 : -1]


def _shared(model: Any, input_ids: Any, attention_mask: Any, keep: int, prefix: int) -> Any:
    import torch
    from transformers import DynamicCache

    backbone = _backbone(model)
    batch, length = input_ids.shape
    prompt_len = length - keep
    pads = (attention_mask[:, :prompt_len] == 0).sum(dim=1)
    # Each row without its left padding and the shared prefix, left-padded again so the
    # completions stay aligned at the end.
    first = int(pads.min())
    start = pads + prefix
    width = length - int(start.min())
    rest = torch.full((batch, width), int(input_ids[0, -1]), dtype=input_ids.dtype)
    rest_mask = torch.zeros((batch, width), dtype=attention_mask.dtype)
    for i in range(batch):
        s = int(start[i])
        rest[i, width - (length - s) :] = input_ids[i, s:]
        rest_mask[i, width - (length - s) :] = attention_mask[i, s:]
    cache = DynamicCache()
    head = input_ids[int(pads.argmin()) : int(pads.argmin()) + 1, first : first + prefix]
    backbone(input_ids=head, past_key_values=cache, use_cache=True)
    layer: Any
    for layer in cache.layers:
        layer.keys = layer.keys.expand(batch, -1, -1, -1)
        layer.values = layer.values.expand(batch, -1, -1, -1)
    full_mask = torch.cat([torch.ones((batch, prefix), dtype=rest_mask.dtype), rest_mask], dim=1)
    positions = (prefix + rest_mask.cumsum(-1) - 1).clamp(min=prefix)
    hidden = backbone(
        input_ids=rest,
        attention_mask=full_mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    return hidden[:, -keep - 1 : -1]


def completion_logps(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    logits_to_keep: int,
    temperature: float = 1.0,
    compute_entropy: bool = False,
    return_hidden: bool = False,
) -> tuple[Any, Any, Any]:
    """(log-probs, entropies or None, hidden states or None) of the last
    ``logits_to_keep`` tokens of each row (see the module docstring for the layout)."""
    import torch

    keep = logits_to_keep
    prompt_len = input_ids.shape[1] - keep
    pads = (attention_mask[:, :prompt_len] == 0).sum(dim=1)
    prompts = [input_ids[i, int(pads[i]) : prompt_len].tolist() for i in range(len(input_ids))]
    prefix = shared_prefix(prompts) if len(prompts) > 1 else 0
    checkpointing = bool(getattr(_backbone(model), "gradient_checkpointing", False))
    if prefix >= MIN_SHARED and not checkpointing:  # checkpointing drops caches
        hidden = _shared(model, input_ids, attention_mask, keep, prefix)
    else:
        hidden = _plain(model, input_ids, attention_mask, keep)
    head = model.get_output_embeddings()
    logits = head(hidden).float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    targets = input_ids[:, -keep:]
    logps = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if compute_entropy:
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logps, entropy, hidden if return_hidden else None
