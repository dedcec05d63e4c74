"""Half-precision weight storage (llm/cpu_weights.py): the same products as float32,
in both kernels, with an overflow fallback and a tied embedding kept tied."""

from __future__ import annotations

import torch
from torch import nn

from stockagents.llm.cpu_weights import HalfEmbedding, HalfLinear, to_half


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


def test_to_half_keeps_a_tied_output_layer_tied() -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.body = nn.Linear(8, 8)
            self.head = nn.Linear(8, 50, bias=False)
            self.head.weight = self.embed.weight

        def get_input_embeddings(self) -> nn.Module:
            return self.embed

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(self.embed(ids)))

    torch.manual_seed(0)
    model = Tiny()
    ids = torch.tensor([[1, 2, 3]])
    expected = model(ids)
    to_half(model)
    assert isinstance(model.embed, HalfEmbedding)
    assert isinstance(model.head, HalfLinear)
    assert model.head.weight is model.embed.weight  # one half table, not two
    assert model.embed.weight.dtype == torch.float16
    torch.testing.assert_close(model(ids), expected, rtol=5e-3, atol=5e-3)
