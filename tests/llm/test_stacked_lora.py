"""Stacked LoRA adapters (llm/_stacked_lora.py): the same logits as peft's per-adapter
routing for any mix of adapters and bare-base rows, in two products per layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from stockagents.llm._stacked_lora import AdapterRouter, StackedLoRALinear, stack_adapters
from stockagents.llm.presets import resolve_model
from tests.helpers import make_tiny_adapter


def _peft_with(tmp_path: Path, names: list[str]) -> PeftModel:
    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    model: PeftModel | None = None
    for seed, name in enumerate(names, start=1):
        path = make_tiny_adapter(tmp_path / name, seed=seed)
        if model is None:
            model = PeftModel.from_pretrained(base, str(path), adapter_name=name)
        else:
            model.load_adapter(str(path), adapter_name=name)
    assert model is not None
    model.eval()
    return model


def test_any_mix_of_rows_gives_peft_logits(tmp_path: Path) -> None:
    model = _peft_with(tmp_path, ["a", "b", "c"])
    ids = torch.randint(0, 200, (5, 12), generator=torch.Generator().manual_seed(0))
    mix = ["a", "__base__", "c", "b", "a"]
    with torch.inference_mode():
        expected = model(input_ids=ids, adapter_names=mix).logits
        alone = {n: model(input_ids=ids, adapter_names=[n] * 5).logits for n in ("a", "b")}
        router = AdapterRouter()
        stacked = stack_adapters(model, router)
        assert stacked is not None
        router.route([None if n == "__base__" else n for n in mix])
        torch.testing.assert_close(stacked(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)
        for name, logits in alone.items():  # one adapter for the whole batch
            router.route([name])
            torch.testing.assert_close(stacked(input_ids=ids).logits, logits)
        router.route([None])
        bare = stacked(input_ids=ids).logits
    assert not torch.allclose(bare, alone["a"])  # the adapters really change the output
    layers = [m for m in stacked.modules() if isinstance(m, StackedLoRALinear)]
    assert layers
    assert all(set(m.spans) == {"a", "b", "c"} for m in layers)
    assert layers[0].lora_a.shape[0] == 12  # three rank-4 adapters side by side


def test_a_mixed_route_must_name_every_row(tmp_path: Path) -> None:
    model = _peft_with(tmp_path, ["a", "b"])
    router = AdapterRouter()
    stacked = stack_adapters(model, router)
    assert stacked is not None
    router.route(["a", "b"])
    with (
        torch.inference_mode(),
        pytest.raises(ValueError, match="routed 2 rows, the batch has 3"),
    ):
        stacked(input_ids=torch.zeros(3, 4, dtype=torch.long))


def test_variants_that_do_not_stack_are_left_to_peft() -> None:
    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_dora=True)
    model = get_peft_model(base, config)
    assert stack_adapters(model, AdapterRouter()) is None
    assert not any(isinstance(m, StackedLoRALinear) for m in model.modules())  # untouched


def test_the_backend_routes_dora_rows_through_peft(tmp_path: Path) -> None:
    from stockagents.agents.prompting import render_prompt
    from stockagents.llm.base import GenerationRequest, Sampling
    from stockagents.llm.hf_backend import HFBackend

    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj"], use_dora=True, init_lora_weights=False
    )
    get_peft_model(base, config).save_pretrained(tmp_path / "dora")
    backend = HFBackend("tiny", quantize="none")
    backend.add_adapter("d", tmp_path / "dora")
    messages = render_prompt("news", {"symbol": "NVDA", "as_of": "2023-06-01", "news": None})
    rows = [GenerationRequest(messages=messages, adapter=a) for a in ("d", None)]
    greedy = Sampling(max_new_tokens=12)
    mixed = backend.generate(rows, greedy)
    assert not backend._stacked
    assert mixed == [backend.generate([row], greedy)[0] for row in rows]


def test_adapters_on_different_layers_stack_and_route(tmp_path: Path) -> None:
    """An adapter that does not touch a layer leaves it alone there, in any route (a
    model set whose adapters target other layers than one loaded before)."""
    model = _peft_with(tmp_path, ["qv"])
    base_cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["k_proj", "o_proj"],
                          init_lora_weights=False)  # fmt: skip
    other = get_peft_model(AutoModelForCausalLM.from_pretrained(resolve_model("tiny")), base_cfg)
    with torch.no_grad():
        for name, param in other.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    other.save_pretrained(tmp_path / "ko")
    model.load_adapter(str(tmp_path / "ko"), adapter_name="ko")
    ids = torch.randint(0, 200, (3, 10), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        mix = ["ko", "qv", "__base__"]
        expected = model(input_ids=ids, adapter_names=mix).logits
        only_ko = model(input_ids=ids, adapter_names=["ko"] * 3).logits
        router = AdapterRouter()
        stacked = stack_adapters(model, router)
        assert stacked is not None
        router.route(["ko", "qv", None])
        torch.testing.assert_close(stacked(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)
        router.route(["ko"])
        torch.testing.assert_close(stacked(input_ids=ids).logits, only_ko, rtol=1e-5, atol=1e-5)
