"""The decoding loop: same tokens as transformers' generate, cached prefixes, jump-forward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stockagents.agents.prompting import answer_schema, render_prompt
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.hf_backend import HFBackend
from tests.helpers import make_tiny_adapter

GREEDY = Sampling(max_new_tokens=24, temperature=0.0)


@pytest.fixture(scope="module")
def backend() -> HFBackend:
    return HFBackend("tiny", quantize="none")  # exact float32: batch-independent outputs


def _request(i: int, schema: bool = False) -> GenerationRequest:
    payload = {"symbol": "AAPL", "as_of": f"2023-06-{1 + i:02d}", "close": 150 + 7 * i,
               "indicators": {"rsi_14": 30 + 11 * i, "note": "x" * (5 * i)}}  # fmt: skip
    return GenerationRequest(
        messages=render_prompt("technical", payload),
        schema=answer_schema("technical") if schema else None,
    )


def _reference(backend: HFBackend, request: GenerationRequest, tokens: int) -> str:
    ids = torch.tensor([backend.encode(request)])
    out = backend.model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=tokens,
        do_sample=False,
        pad_token_id=backend.tokenizer.pad_token_id,
        eos_token_id=backend.tokenizer.eos_token_id,
    )
    return str(backend.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()


@pytest.mark.parametrize("cache_prefixes", [False, True])
def test_same_tokens_as_generate_one_by_one(backend: HFBackend, cache_prefixes: bool) -> None:
    """Rows of different lengths in one batch, a constrained row among them that stops
    early and leaves the batch: every free row reads exactly as when run alone."""
    backend.cache_prefixes = cache_prefixes
    requests = [_request(0), _request(3), _request(1, schema=True), _request(6)]
    try:
        for _ in range(2):  # the second run starts from the cached prefixes
            got = backend.generate(requests, GREEDY)
            for request, text in zip(requests, got, strict=True):
                if request.schema is None:
                    assert text == _reference(backend, request, GREEDY.max_new_tokens)
    finally:
        backend.cache_prefixes = True


def test_prefix_cache_skips_the_system_prompt(backend: HFBackend) -> None:
    backend.prefix_cache.clear()
    requests = [_request(1), _request(2)]
    backend.generate(requests, GREEDY)
    first = backend.last_stats
    hits = backend.prefix_cache.hits
    backend.generate(requests, GREEDY)
    second = backend.last_stats
    assert backend.prefix_cache.hits == hits + 2
    assert len(backend.prefix_cache) == 1  # one system prompt, one entry
    assert second["prefilled_tokens"] < second["prompt_tokens"]
    assert first["prompt_tokens"] == second["prompt_tokens"]
    system_tokens = second["prompt_tokens"] - second["prefilled_tokens"]
    assert system_tokens >= 2 * 20  # the system message of both rows came from the cache


def test_jump_forward_feeds_forced_tokens_without_steps(backend: HFBackend) -> None:
    requests = [_request(i, schema=True) for i in range(3)]
    sampling = Sampling(max_new_tokens=200, temperature=0.0)
    texts = backend.generate(requests, sampling)
    fast = dict(backend.last_stats)
    backend.jump_forward = False
    try:
        slow_texts = backend.generate(requests, sampling)
        slow = dict(backend.last_stats)
    finally:
        backend.jump_forward = True
    for text in [*texts, *slow_texts]:
        answer = json.loads(text)
        assert list(answer) == ["reasoning", "signal", "score", "confidence"]
    assert fast["forced_tokens"] >= 3 * 10  # at least the keys of every row
    assert slow["forced_tokens"] == 0
    assert fast["steps"] < slow["steps"] - 20
    assert fast["new_tokens"] <= 3 * sampling.max_new_tokens


def test_max_new_tokens_is_a_hard_cap(backend: HFBackend) -> None:
    for schema in (False, True):
        requests = [_request(i, schema=schema) for i in range(2)]
        backend.generate(requests, Sampling(max_new_tokens=5, temperature=0.0))
        assert backend.last_stats["new_tokens"] <= 2 * 5
        assert backend.last_stats["steps"] <= 5


def test_sampling_is_seeded(backend: HFBackend) -> None:
    requests = [_request(2)]
    a = backend.generate(requests, Sampling(max_new_tokens=16, temperature=1.0, seed=3))
    b = backend.generate(requests, Sampling(max_new_tokens=16, temperature=1.0, seed=3))
    c = backend.generate(requests, Sampling(max_new_tokens=16, temperature=1.0, seed=4))
    assert a == b
    assert a != c
    narrow = Sampling(max_new_tokens=16, temperature=1.0, top_p=1e-6, seed=5)
    assert backend.generate(requests, narrow) == backend.generate(
        requests, Sampling(max_new_tokens=16, temperature=0.0)
    )


def test_adapters_keep_their_own_prefixes(tmp_path: Path) -> None:
    """Each adapter's system prompt is cached under that adapter; a new adapter empties
    the cache (the weights changed)."""
    backend = HFBackend("tiny", quantize="none")
    backend.add_adapter("a", make_tiny_adapter(tmp_path / "a", seed=1))
    requests = [_request(1), _request(1)]
    requests[0] = GenerationRequest(messages=requests[0].messages, adapter="a")
    alone = [backend.generate([r], GREEDY)[0] for r in requests]
    assert backend.generate(requests, GREEDY) == alone
    assert len(backend.prefix_cache) == 2
    assert alone[0] != alone[1]
    backend.add_adapter("b", make_tiny_adapter(tmp_path / "b", seed=2))
    assert len(backend.prefix_cache) == 0


def test_growing_cache_keeps_what_concatenation_would() -> None:
    from stockagents.llm._decoding import growing_cache

    cache = growing_cache()
    torch.manual_seed(0)
    chunks = [torch.randn(3, 2, n, 4) for n in (5, 1, 3, 1, 70)]
    for chunk in chunks:
        keys, values = cache.update(chunk, -chunk, 0)
    expected = torch.cat(chunks, dim=2)
    assert torch.equal(keys, expected)
    assert torch.equal(values, -expected)
    assert cache.get_seq_length() == 80
    cache.batch_select_indices(torch.tensor([0, 2]))
    assert torch.equal(cache.layers[0].keys, expected[[0, 2]])
    keys, _ = cache.update(torch.ones(2, 2, 1, 4), torch.ones(2, 2, 1, 4), 0)
    assert keys.shape == (2, 2, 81, 4)
    assert torch.equal(keys[:, :, :80], expected[[0, 2]])


def test_jump_forward_leaves_a_token_the_grammar_may_extend_to_the_model(
    backend: HFBackend,
) -> None:
    """Training tokenizes whole answers, where BPE merges a forced boundary with what
    follows (``'":', ' "+', '0'``); forcing the bare ``' "'`` or ``' '`` would put the
    model where it never was. The last forced token is fed only when no allowed token
    extends it."""
    from stockagents.llm._decoding import _extensions, forced_tokens

    tokenizer = backend.tokenizer
    ids, tail = forced_tokens(tokenizer, '", "score": ')
    assert tokenizer.decode([*ids, tail]) == '", "score": '
    assert tokenizer.decode(ids) == '", "score":'
    assert forced_tokens(tokenizer, "") == ([], None)
    space = tokenizer.encode(" ", add_special_tokens=False)[-1]
    longer = _extensions(tokenizer, space).nonzero().flatten().tolist()
    assert longer  # tokens that start with a space and go on
    assert all(tokenizer.convert_ids_to_tokens(t).startswith("Ġ") for t in longer[:20])
    requests = [_request(i, schema=True) for i in range(3)]
    for text in backend.generate(requests, Sampling(max_new_tokens=200, temperature=0.0)):
        assert list(json.loads(text)) == ["reasoning", "signal", "score", "confidence"]
