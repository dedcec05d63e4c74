"""Smaller weight formats (llm/_cpu_weights.py): float16 storage gives the same products
as float32 in both kernels, with an overflow fallback; int8 stays within half a step of
each row's grid; a tied embedding is kept tied in both; bfloat16 leaves the input
embedding in float32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stockagents.llm._cpu_weights import (
    BF16Linear,
    HalfEmbedding,
    HalfLinear,
    Int8Embedding,
    Int8Linear,
    native_bfloat16,
    quantize_int8,
    to_bfloat16,
    to_half,
)


def test_half_linear_matches_float32_in_both_kernels() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(64, 32)
    half = HalfLinear(linear)
    assert half.weight.dtype == torch.float16
    for rows in (1, HalfLinear.small_rows, 16):  # float16 product, then float32 product
        x = torch.randn(rows, 64)
        out = half(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, linear(x), rtol=2e-3, atol=2e-3)


def test_half_linear_recomputes_an_overflow_in_float32() -> None:
    linear = nn.Linear(4, 1, bias=False)
    linear.weight.data.fill_(1000.0)
    x = torch.full((1, 4), 30.0)  # 4 x 30 x 1000 = 120000, beyond float16's 65504
    out = HalfLinear(linear)(x)
    assert torch.isfinite(out).all()
    assert out.item() == 120000.0


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 50, bias=False)
        self.head.weight = self.embed.weight

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def get_output_embeddings(self) -> nn.Module:
        return self.head

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(self.embed(ids)))
        return out


def _tied_and_its_output() -> tuple[_Tied, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = _Tied()
    ids = torch.tensor([[1, 2, 3]])
    return model, ids, model(ids)


def test_to_half_keeps_a_tied_output_layer_tied() -> None:
    model, ids, expected = _tied_and_its_output()
    to_half(model)
    assert isinstance(model.embed, HalfEmbedding)
    assert isinstance(model.head, HalfLinear)
    assert model.head.weight is model.embed.weight  # one half table, not two
    assert model.embed.weight.dtype == torch.float16
    torch.testing.assert_close(model(ids), expected, rtol=5e-3, atol=5e-3)


def test_int8_linear_is_close_to_float32_in_both_kernels() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(64, 32)
    int8 = Int8Linear(linear)
    assert int8.packed.weight.dtype == torch.int8
    step = int8.packed.scale  # one step of each output row's grid
    error = (int8.packed.dequantized(torch.float32) - linear.weight).abs().amax(dim=1)
    assert bool((error <= step / 2 + 1e-7).all())  # rounded to the nearest step
    for rows in (1, Int8Linear.small_rows, Int8Linear.small_rows + 1):  # int8 kernel, then float
        x = torch.randn(rows, 64)
        out = int8(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, linear(x), rtol=0.05, atol=0.02)
    batch = torch.randn(2, 3, 64)  # leading dimensions are kept
    assert int8(batch).shape == (2, 3, 32)


def test_int8_activations_for_wide_calls_stay_close_to_float32() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    int8 = Int8Linear(linear, int8_activations=True)
    for rows in (Int8Linear.int8_rows, Int8Linear.int8_rows + 1, 200):  # kernel, then int8
        x = torch.randn(rows, 64)
        torch.testing.assert_close(int8(x), linear(x), rtol=0.05, atol=0.03)
    wide = torch.randn(40, 64)
    weight_only = Int8Linear(linear, packed=int8.packed)
    assert not torch.equal(int8(wide), weight_only(wide))  # really rounded activations


def test_int8_linear_takes_the_float_product_where_the_kernel_cannot() -> None:
    torch.manual_seed(0)
    for width in (8, 24, 40):  # torch's kernel needs multiples of 16: garbage or a crash
        linear = nn.Linear(width, 32)
        int8 = Int8Linear(linear)
        assert not int8.kernel
        x = torch.randn(1, width)
        torch.testing.assert_close(int8(x), linear(x), rtol=0.05, atol=0.02)
    assert Int8Linear(nn.Linear(48, 8)).kernel


def test_quantize_int8_keeps_a_tied_output_layer_tied() -> None:
    model, ids, expected = _tied_and_its_output()
    table = model.embed.weight.detach().clone()
    quantize_int8(model)
    assert isinstance(model.embed, Int8Embedding)
    assert isinstance(model.head, Int8Linear)
    assert model.head.packed is model.embed.packed  # one int8 table, not two
    torch.testing.assert_close(model.embed(ids)[0], table[ids[0]], rtol=0.0, atol=0.02)
    torch.testing.assert_close(model(ids), expected, rtol=0.05, atol=0.05)


def test_bfloat16_multiplies_in_bfloat16_and_keeps_the_embedding_float32() -> None:
    model, ids, expected = _tied_and_its_output()
    to_bfloat16(model)
    assert isinstance(model.body, BF16Linear)
    assert model.body.weight.dtype == torch.bfloat16
    assert model.body.bias is not None
    assert model.body.bias.dtype == torch.float32
    assert isinstance(model.head, BF16Linear)  # its own bfloat16 copy of the table
    assert model.embed.weight.dtype == torch.float32  # lookups stay exact
    out = model(ids)
    assert out.dtype == torch.float32
    assert not torch.equal(out, expected)  # really a different product
    torch.testing.assert_close(out, expected, rtol=0.02, atol=0.02)


def test_native_bfloat16_reads_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import io

    real_open = builtins.open

    def cpuinfo(flags: str) -> object:
        def fake(path: object, *args: object, **kwargs: object) -> object:
            if path == "/proc/cpuinfo":
                return io.StringIO(f"processor : 0\nflags : fpu {flags} sse\n")
            return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

        return fake

    monkeypatch.setattr(builtins, "open", cpuinfo("avx2 avx512f avx512_bf16"))
    assert native_bfloat16()
    monkeypatch.setattr(builtins, "open", cpuinfo("avx2 amx_bf16"))
    assert native_bfloat16()
    monkeypatch.setattr(builtins, "open", cpuinfo("avx2 avx512f"))
    assert not native_bfloat16()


def test_bfloat16_base_without_native_products_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stockagents.llm import _cpu_weights
    from stockagents.llm.hf_backend import bfloat16_base

    monkeypatch.setattr(_cpu_weights, "native_bfloat16", lambda: False)
    model = nn.Sequential(nn.Linear(8, 8))
    with caplog.at_level("WARNING"):
        assert bfloat16_base(model, "bfloat16")  # done as asked, with a warning
    assert "without native bfloat16" in caplog.text
    assert not bfloat16_base(nn.Sequential(nn.Linear(8, 8)), "auto")


def test_a_lora_trains_on_bfloat16_base_weights() -> None:
    # model.base_weights: the frozen base in bfloat16, the LoRA matrices float32 and
    # trained through the bfloat16 products: its weights change and the loss falls.
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stockagents.core.errors import ConfigError
    from stockagents.llm.hf_backend import bfloat16_base
    from stockagents.llm.presets import resolve_model

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"), dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"])
    model = get_peft_model(base, lora)
    assert not bfloat16_base(model, "float32")
    assert not bfloat16_base(model, "auto")  # the tiny model is below the size worth it
    with pytest.raises(ConfigError, match="base weights 'half'"):
        bfloat16_base(model, "half")
    assert bfloat16_base(model, "bfloat16")
    kinds = {type(m).__name__ for m in model.modules()}
    assert "BF16Linear" in kinds
    assert "Linear" in kinds  # the LoRA matrices stay float32
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trained
    assert all(p.dtype == torch.float32 for p in trained.values())
    ids = torch.randint(0, 200, (4, 24))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
    after = dict(model.named_parameters())
    assert any(not torch.equal(after[n], before) for n, before in trained.items())
