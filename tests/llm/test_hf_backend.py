"""The tiny model end to end through the hf backend: batching, adapters, constraints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stockagents.agents.prompting import answer_schema, parse_answer, render_prompt
from stockagents.core.errors import BackendError
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.hf_backend import HFBackend
from stockagents.llm.presets import resolve_model
from tests.helpers import make_tiny_adapter

GREEDY = Sampling(max_new_tokens=40, temperature=0.0)


@pytest.fixture(scope="module")
def backend() -> HFBackend:
    return HFBackend("tiny", quantize="none")  # exact float32: batch-independent outputs


def _payload(agent: str, i: int) -> dict[str, object]:
    day = f"2023-06-{1 + i % 28:02d}"
    if agent == "technical":
        return {
            "symbol": "AAPL",
            "as_of": day,
            "close": 150 + i,
            "indicators": {
                "rsi_14": 30 + i % 50,
                "sma_50": 140.0 + i,
                "macd_hist": 0.1 * (i % 7 - 3),
            },
        }
    if agent == "news":
        return {"symbol": "NVDA", "as_of": day, "news": None, "unavailable": "no news source"}
    if agent == "fundamental":
        return {"symbol": "META", "as_of": day, "ratios": None, "unavailable": "no data"}
    return {"symbol": "AAPL", "as_of": day, "signals": {}, "market": {"close": 150.0 + i},
            "portfolio": {"position": 0.0}}  # fmt: skip


def test_tiny_preset_is_built_once_and_deterministic(backend: HFBackend) -> None:
    path = Path(resolve_model("tiny"))
    assert (path / "config.json").is_file()
    assert resolve_model("tiny") == str(path)  # cached
    tokens = backend.tokenizer.tokenize("price 193.71")
    digits = [t for t in tokens if any(c.isdigit() for c in t)]
    assert all(len(t.strip("Ġ")) == 1 for t in digits)  # digits split one by one
    text = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    weight = backend.base_model.get_input_embeddings().weight
    torch.manual_seed(0)
    again = HFBackend("tiny", quantize="none").base_model.get_input_embeddings().weight
    assert torch.equal(weight, again)


def test_batched_equals_one_by_one(backend: HFBackend) -> None:
    requests = [
        GenerationRequest(messages=render_prompt("technical", _payload("technical", i)))
        for i in range(3)
    ]
    batched = backend.generate(requests, GREEDY)
    single = [backend.generate([r], GREEDY)[0] for r in requests]
    assert batched == single  # left padding and masks do not change greedy output
    assert len(batched) == 3


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["technical", "news", "fundamental", "strategist"])
def test_constrained_json_valid_on_200_prompts(backend: HFBackend, agent: str) -> None:
    requests = [
        GenerationRequest(
            messages=render_prompt(agent, _payload(agent, i)), schema=answer_schema(agent)
        )
        for i in range(200)
    ]
    wide = HFBackend.__new__(HFBackend)
    wide.__dict__.update(backend.__dict__)
    wide.batch_size = 40
    texts = wide.generate(requests, Sampling(max_new_tokens=256, temperature=1.0, seed=7))
    errors = [parse_answer(agent, t)[1] for t in texts]
    assert errors == [None] * 200
    # Unconstrained, the same random model does not produce the schema.
    free = wide.generate(
        [GenerationRequest(messages=r.messages) for r in requests[:8]], Sampling(max_new_tokens=40)
    )
    assert any(parse_answer(agent, t)[1] is not None for t in free)


def test_several_adapters_in_one_batch(tmp_path: Path) -> None:
    backend = HFBackend("tiny", quantize="none")
    backend.add_adapter("a", make_tiny_adapter(tmp_path / "a", seed=1))
    backend.add_adapter("b", make_tiny_adapter(tmp_path / "b", seed=2))
    messages = render_prompt("technical", _payload("technical", 3))
    rows = [GenerationRequest(messages=messages, adapter=name) for name in ("a", "b", None)]
    mixed = backend.generate(rows, GREEDY)
    alone = [backend.generate([row], GREEDY)[0] for row in rows]
    assert mixed == alone  # each row used its own adapter inside the shared batch
    assert len(set(mixed)) == 3  # and the adapters really differ from each other and the base
    with pytest.raises(BackendError, match="adapter 'c' is not loaded"):
        backend.generate([GenerationRequest(messages=messages, adapter="c")], GREEDY)


def test_shared_backend_is_one_copy(caplog: pytest.LogCaptureFixture) -> None:
    backend = HFBackend.shared("tiny")
    assert HFBackend.shared("tiny") is backend
    # options from an agent's config: the batch grows to the largest asked for, and a
    # different quantization would need a second copy, so it is refused with a warning
    assert HFBackend.shared("tiny", batch_size=48) is backend
    assert backend.batch_size == 48
    other = "none" if backend.quantize == "int8" else "int8"
    with caplog.at_level("WARNING"):
        assert HFBackend.shared("tiny", quantize=other) is backend
    assert f"quantize={other} ignored" in caplog.text


def test_missing_model_is_clear(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        HFBackend("./no/such/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match=r"no config\.json"):
        HFBackend(str(tmp_path / "empty"))


def test_schema_is_compiled_in_property_order(backend: HFBackend) -> None:
    request = GenerationRequest(
        messages=render_prompt("news", _payload("news", 1)), schema=answer_schema("news")
    )
    (text,) = backend.generate([request], Sampling(max_new_tokens=256))
    assert list(json.loads(text, strict=False)) == ["reasoning", "signal", "score", "confidence"]


def _technical_rows(adapter: str | None, n: int = 3) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=render_prompt("technical", _payload("technical", i)),
            schema=answer_schema("technical"),
            adapter=adapter,
        )
        for i in range(n)
    ]


def test_auto_leaves_a_toy_model_in_float32() -> None:
    backend = HFBackend("tiny")
    free = GenerationRequest(messages=render_prompt("news", _payload("news", 1)))
    backend.generate([free], Sampling(max_new_tokens=8))
    assert backend.quantize == "none"  # int8 kernels cost more than they save at this size
    assert type(backend.model.model.layers[0].self_attn.q_proj) is torch.nn.Linear


def test_auto_puts_adapters_stacked_on_an_int8_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.llm import hf_backend
    from stockagents.llm._cpu_weights import Int8Embedding, Int8Linear
    from stockagents.llm._stacked_lora import StackedLoRALinear

    monkeypatch.setattr(hf_backend, "AUTO_QUANTIZE_MIN_PARAMETERS", 0)  # as for a real model
    monkeypatch.setattr(hf_backend, "_cpu_format", lambda: "int8")  # no native bfloat16
    backend = HFBackend("tiny")
    assert backend.quantize == "int8"
    free = GenerationRequest(messages=render_prompt("news", _payload("news", 1)))
    backend.generate([free], Sampling(max_new_tokens=8))  # quantized
    bare = backend.model.model.layers[0].self_attn.q_proj
    assert type(bare) is Int8Linear
    assert bare.int8_activations  # a bare base model rounds wide calls' activations too
    adapter = make_tiny_adapter(tmp_path / "a", seed=1)
    backend.add_adapter("a", adapter)  # reloads float32, stacks the adapter, then int8
    answers = backend.generate(_technical_rows("a"), Sampling(max_new_tokens=256))
    assert backend.quantize == "int8"
    assert all(parse_answer("technical", text)[1] is None for text in answers)
    layer = backend.model.model.layers[0].self_attn.q_proj
    assert type(layer) is StackedLoRALinear
    assert type(layer.base) is Int8Linear
    assert layer.base.packed.weight.dtype == torch.int8
    assert not layer.base.int8_activations  # adapters keep float activations
    assert layer.lora_a.dtype == torch.float32  # LoRA matrices stay float32
    assert type(backend.model.model.embed_tokens) is Int8Embedding
    # The LM head shares the embedding's int8 table: one copy of the tied weights.
    assert backend.model.lm_head.packed is backend.model.model.embed_tokens.packed


def test_auto_takes_bfloat16_on_a_cpu_that_multiplies_it_natively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.llm import _cpu_weights, hf_backend
    from stockagents.llm._cpu_weights import BF16Linear

    monkeypatch.setattr(hf_backend, "AUTO_QUANTIZE_MIN_PARAMETERS", 0)  # as for a real model
    monkeypatch.setattr(_cpu_weights, "native_bfloat16", lambda: True)
    backend = HFBackend("tiny")
    assert backend.quantize == "bf16"
    adapter = make_tiny_adapter(tmp_path / "a", seed=1)
    backend.add_adapter("a", adapter)
    answers = backend.generate(_technical_rows("a"), Sampling(max_new_tokens=256))
    assert all(parse_answer("technical", text)[1] is None for text in answers)
    layer = backend.model.model.layers[0].self_attn.q_proj
    assert type(layer.base) is BF16Linear
    assert layer.base.weight.dtype == torch.bfloat16
    assert layer.lora_a.dtype == torch.float32  # LoRA matrices stay float32
    assert backend.model.model.embed_tokens.weight.dtype == torch.float32
    _assert_logits_close_to_float32(backend, adapter)


def _assert_logits_close_to_float32(backend: HFBackend, adapter: Path) -> None:
    """``backend``'s logits (adapter "a", loaded and prepared) against float32 weights'."""
    exact = HFBackend("tiny", quantize="none")
    exact.add_adapter("a", adapter)
    exact.generate(_technical_rows("a", 1), GREEDY)  # prepared: stacked
    ids = torch.tensor([backend.encode(row) for row in _technical_rows("a", 1)])
    with torch.inference_mode():
        for each in (backend, exact):
            each.router.route(["a"])
        got, want = backend.model(input_ids=ids).logits, exact.model(input_ids=ids).logits
    assert not torch.equal(got, want)  # really a different format
    relative = (got - want).norm() / want.norm()
    assert relative < 0.05, relative
    same_top = (got.argmax(-1) == want.argmax(-1)).float().mean()
    assert same_top > 0.9, same_top


def test_int8_logits_stay_close_to_float32(tmp_path: Path) -> None:
    adapter = make_tiny_adapter(tmp_path / "a", seed=1)
    int8 = HFBackend("tiny", quantize="int8")
    int8.add_adapter("a", adapter)
    int8.generate(_technical_rows("a", 1), GREEDY)  # prepared: stacked and int8
    _assert_logits_close_to_float32(int8, adapter)


def test_fp16_when_asked_gives_the_float32_answers(tmp_path: Path) -> None:
    from stockagents.llm._cpu_weights import HalfEmbedding, HalfLinear

    adapter = make_tiny_adapter(tmp_path / "a", seed=1)
    half = HFBackend("tiny", quantize="fp16")
    half.add_adapter("a", adapter)
    rows = _technical_rows("a")
    answers = half.generate(rows, GREEDY)
    layer = half.model.model.layers[0].self_attn.q_proj
    assert type(layer.base) is HalfLinear
    assert layer.base.weight.dtype == torch.float16
    assert type(half.model.model.embed_tokens) is HalfEmbedding
    exact = HFBackend("tiny", quantize="none")
    exact.add_adapter("a", adapter)
    assert answers == exact.generate(rows, GREEDY)  # the same answers as float32 weights


def test_adding_an_adapter_after_generation_restacks(tmp_path: Path) -> None:
    backend = HFBackend("tiny", quantize="int8")
    backend.add_adapter("a", make_tiny_adapter(tmp_path / "a", seed=1))
    request = GenerationRequest(
        messages=render_prompt("news", _payload("news", 2)),
        schema=answer_schema("news"),
        adapter="a",
    )
    (text,) = backend.generate([request], Sampling(max_new_tokens=256))
    assert parse_answer("news", text)[1] is None
    first = backend.generate([request], Sampling(max_new_tokens=256))
    backend.add_adapter("b", make_tiny_adapter(tmp_path / "b", seed=2))  # reloads, re-stacks
    assert backend.generate([request], Sampling(max_new_tokens=256)) == first
    assert set(backend.adapters) == {"a", "b"}
    assert set(backend.model.model.layers[0].self_attn.q_proj.spans) == {"a", "b"}


def test_unknown_weight_format_is_clear() -> None:
    with pytest.raises(BackendError, match="quantize='x'"):
        HFBackend("tiny", quantize="x")


def test_a_failed_reload_for_an_adapter_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = HFBackend("tiny", quantize="int8")
    request = GenerationRequest(messages=render_prompt("news", _payload("news", 1)))
    backend.generate([request], Sampling(max_new_tokens=4))  # prepared: a reload is due

    def unreadable() -> None:
        raise BackendError("cannot load model 'tiny': disk gone")

    monkeypatch.setattr(backend, "_load_base", unreadable)
    with pytest.raises(BackendError, match="disk gone"):
        backend.add_adapter("a", make_tiny_adapter(tmp_path / "a", seed=1))
    with pytest.raises(BackendError, match="failed to reload; load it again"):
        backend.generate([request], Sampling(max_new_tokens=4))


@pytest.mark.parametrize(
    "damage",
    [b"\x00garbage" * 64, b"", b'{"truncated": '],
    ids=["junk", "empty", "truncated-header"],
)
def test_corrupt_weights_are_one_line(tmp_path: Path, damage: bytes) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(resolve_model("tiny"), model)
    (model / "model.safetensors").write_bytes(damage)
    with pytest.raises(BackendError) as info:
        HFBackend(str(model))
    message = str(info.value)
    assert message.startswith(f"cannot load model {str(model)!r}: ")
    assert "\n" not in message


def test_corrupt_adapter_is_one_line(backend: HFBackend, tmp_path: Path) -> None:
    adapter = make_tiny_adapter(tmp_path / "adapter", seed=3)
    (Path(adapter) / "adapter_model.safetensors").write_bytes(b"junk" * 10)
    with pytest.raises(BackendError, match=r"cannot load the LoRA adapter in .*corrupt"):
        backend.add_adapter("broken", adapter)
    assert "broken" not in backend.adapters


def test_bf16_asked_on_a_cpu_without_it_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stockagents.llm import hf_backend

    monkeypatch.setattr(hf_backend, "_cpu_format", lambda: "int8")  # no native bfloat16
    with caplog.at_level("WARNING"):
        backend = HFBackend("tiny", quantize="bf16")
    assert backend.quantize == "bf16"  # honoured, but said to be slow here
    assert "without native bfloat16 products" in caplog.text
