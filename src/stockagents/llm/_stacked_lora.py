"""LoRA adapters stacked for inference, so a batch that mixes adapters costs two products.

peft runs a batch whose rows use different adapters as one sub-batch per adapter in
every LoRA layer, routed by a hook per layer and call: with the three analysts in one
batch that is six small products, six index operations and a hook in each of 70 layers
per decoding step. ``stack_adapters`` replaces each of peft's LoRA layers with a
``StackedLoRALinear`` holding every adapter's matrices side by side,

    A = [A_1; A_2; ...]           (sum of ranks x in)
    B = [s_1 B_1, s_2 B_2, ...]   (out x sum of ranks)

(each adapter's scaling folded into its B), and computes the LoRA term of any mix as

    y = base(x) + ((x @ A.T) * mask) @ B.T

where a row's mask keeps its own adapter's columns (none for the bare base). A batch
with one adapter multiplies by that adapter's block alone; a batch with none skips the
term. ``AdapterRouter.route`` says which adapter each row of the next forward pass uses.

Knows nothing of decoding or weight formats: the base layer is whatever module peft
wrapped (and may be swapped for a smaller format afterwards, see ``llm._cpu_weights``).
Only plain LoRA folds: adapters with DoRA or another peft variant, a LoRA bias, or a
merged state are left to peft (``stack_adapters`` returns None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class AdapterRouter:
    """Which adapter answers each row of the next forward pass (None: the bare base).

    One router is shared by every ``StackedLoRALinear`` of a model."""

    def __init__(self) -> None:
        self.rows: tuple[str | None, ...] = ()
        self.version = 0
        #: The adapter of every row when they all use one (None: mixed, or none at all).
        self.only: str | None = None
        #: Whether any row uses an adapter.
        self.active = False

    def route(self, adapters: Sequence[str | None]) -> None:
        """Rows of the next forward pass, in batch order. A single entry applies to every
        row, whatever the batch size. Decided here once per pass, not in every layer."""
        rows = tuple(adapters)
        if rows != self.rows:
            self.rows = rows
            self.version += 1
            names = set(rows)
            self.active = any(name is not None for name in names)
            self.only = next(iter(names)) if len(names) == 1 else None


class StackedLoRALinear(nn.Module):
    """A base linear layer plus every adapter's LoRA term, stacked (module docstring)."""

    lora_a: torch.Tensor
    lora_b: torch.Tensor

    def __init__(
        self,
        base: nn.Module,
        blocks: dict[str, tuple[torch.Tensor, torch.Tensor]],
        router: AdapterRouter,
    ) -> None:
        """``blocks`` maps an adapter's name to its (A, scaling x B) matrices, shaped
        (rank, in) and (out, rank)."""
        super().__init__()
        self.base = base
        self.router = router
        names = list(blocks)
        self.register_buffer("lora_a", torch.cat([blocks[n][0] for n in names]).detach())
        self.register_buffer("lora_b", torch.cat([blocks[n][1] for n in names], dim=1).detach())
        self.spans: dict[str, tuple[int, int]] = {}
        start = 0
        for name in names:
            rank = blocks[name][0].shape[0]
            self.spans[name] = (start, start + rank)
            start += rank
        self._mask: tuple[int, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.base(x)
        router = self.router
        if not router.active:
            return out
        x = x.to(self.lora_a.dtype)
        if router.only is not None:
            span = self.spans.get(router.only)
            if span is None:  # that adapter does not touch this layer (other target layers)
                return out
            start, end = span
            delta = F.linear(F.linear(x, self.lora_a[start:end]), self.lora_b[:, start:end])
        else:
            if len(router.rows) != x.shape[0]:
                raise ValueError(f"routed {len(router.rows)} rows, the batch has {x.shape[0]}")
            delta = F.linear(F.linear(x, self.lora_a) * self._row_mask(), self.lora_b)
        return out + delta.to(out.dtype)

    def _row_mask(self) -> torch.Tensor:
        """(rows, 1, sum of ranks): 1 on each row's own adapter's columns."""
        if self._mask is None or self._mask[0] != self.router.version:
            rows = self.router.rows
            mask = torch.zeros(len(rows), 1, self.lora_a.shape[0], dtype=self.lora_a.dtype)
            for row, name in enumerate(rows):
                if name is not None and name in self.spans:  # absent: not on this layer
                    start, end = self.spans[name]
                    mask[row, 0, start:end] = 1.0
            self._mask = (self.router.version, mask.to(self.lora_a.device))
        return self._mask[1]

    def extra_repr(self) -> str:
        return f"adapters={list(self.spans)}, rank={self.lora_a.shape[0]}"


def _foldable(layer: Any) -> bool:
    names = list(layer.lora_A.keys())
    return (
        not getattr(layer, "merged_adapters", [])
        and not getattr(layer, "fan_in_fan_out", False)
        and not any(n in getattr(layer, "lora_variant", {}) for n in names)
        and not any(getattr(layer, "use_dora", {}).get(n, False) for n in names)
        and all(isinstance(layer.lora_A[n], nn.Linear) for n in names)
        and all(isinstance(layer.lora_B[n], nn.Linear) for n in names)
        and all(layer.lora_B[n].bias is None for n in names)
    )


def stack_adapters(peft_model: Any, router: AdapterRouter) -> nn.Module | None:
    """The model under ``peft_model`` with every peft LoRA linear layer replaced by a
    ``StackedLoRALinear`` routed by ``router``; None (nothing changed) when an adapter
    does not fold (module docstring). The peft wrapper is not used afterwards."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    model: nn.Module = peft_model.get_base_model()
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLinear)]
    if not layers or not all(_foldable(layer) for _, layer in layers):
        return None
    for name, lora in layers:
        layer: Any = lora
        blocks = {
            adapter: (
                layer.lora_A[adapter].weight.detach(),
                layer.lora_B[adapter].weight.detach() * float(layer.scaling[adapter]),
            )
            for adapter in layer.lora_A
        }
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child_name, StackedLoRALinear(layer.base_layer, blocks, router))
    return model
