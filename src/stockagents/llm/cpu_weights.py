"""Smaller weights for decoding on a CPU: dynamic int8 and half-precision storage.

Decoding one token at a time on a CPU is bound by reading the weights from memory, so
fewer bytes per weight means a faster step. Two formats, chosen by ``HFBackend``:

- **int8** (``quantize_int8``): torch's dynamic int8 linear layers. The fastest step,
  but activations are quantized per batch too, and that noise is larger than the margins
  a LoRA adapter learns (measured: a technical adapter agreed with its teacher on 92% of
  held-out prompts in float32 and 55% on int8; 63-65% with the LM head, the attention or
  the adapted layers kept in float). Used for a bare base model.
- **fp16 storage** (``to_half``): linear weights (and a tied embedding) are kept in
  float16, half the bytes of float32; activations stay float32. A call with at most
  ``HalfLinear.small_rows`` rows (a decoding step) multiplies in float16, which reads half
  the bytes; a larger one (a prefill, a wide batch) converts the weight to float32 first,
  because CPU float16 matrix products are slow at that size. An output that overflows
  float16 is recomputed in float32. Used under LoRA adapters, whose matrices stay float32.

Both replace modules in place and make the remaining float tensors their own copies,
so the loaded checkpoint's buffer is freed.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["HalfEmbedding", "HalfLinear", "quantize_int8", "to_half"]


def _half(weight: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(weight.detach().to(torch.float16), requires_grad=False)


class HalfLinear(nn.Module):
    """A linear layer whose weight is stored in float16 (see the module docstring)."""

    #: Rows (tokens across the batch) up to which the product runs in float16: measured
    #: here, faster than float32 up to 4 rows and slower from 8.
    small_rows = 4

    def __init__(self, linear: nn.Linear, weight: nn.Parameter | None = None) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = weight if weight is not None else _half(linear.weight)
        self.bias = (
            None
            if linear.bias is None
            else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(1, x.shape[-1])
        if rows <= self.small_rows:
            out = F.linear(x.to(torch.float16), self.weight).to(x.dtype)
            if bool(torch.isfinite(out).all()):
                return out if self.bias is None else out + self.bias
        return F.linear(x, self.weight.to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp16"


class HalfEmbedding(nn.Module):
    """An embedding table stored in float16 that returns float32 vectors."""

    def __init__(self, embedding: nn.Embedding, weight: nn.Parameter) -> None:
        super().__init__()
        self.num_embeddings = embedding.num_embeddings
        self.embedding_dim = embedding.embedding_dim
        self.padding_idx = embedding.padding_idx
        self.weight = weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight, self.padding_idx).to(torch.float32)


def _linear_targets(model: nn.Module) -> list[tuple[str, str]]:
    """(parent, child) names of the plain linear layers, LoRA matrices excluded."""
    return [
        (parent_name, child_name)
        for parent_name, parent in model.named_modules()
        for child_name, child in parent.named_children()
        if type(child) is nn.Linear and "lora_" not in f"{parent_name}.{child_name}"
    ]


def _own_float_tensors(model: nn.Module) -> None:
    # The float tensors left (norms, embeddings) may be views into the loaded
    # checkpoint's buffer, which would keep every old float weight alive: copy them.
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dtype == torch.float32:
            tensor.data = tensor.data.clone()
    gc.collect()


def quantize_int8(model: nn.Module) -> None:
    """Dynamic int8 for ``model``'s linear layers (LoRA matrices stay float)."""
    from torch.ao.nn.quantized import dynamic
    from torch.ao.quantization import default_dynamic_qconfig

    dynamic_linear: Any = dynamic.Linear
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's migration notice
        for parent_name, child_name in _linear_targets(model):  # one at a time: low peak
            parent = model.get_submodule(parent_name)
            child: Any = getattr(parent, child_name)
            child.qconfig = default_dynamic_qconfig
            setattr(parent, child_name, dynamic_linear.from_float(child))
            del child
        _own_float_tensors(model)


def to_half(model: nn.Module) -> None:
    """float16 storage for ``model``'s linear layers and input embedding (LoRA matrices
    stay float32). A tied output layer keeps sharing the embedding's (half) table."""
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings: Any = get_embeddings() if get_embeddings is not None else None
    shared: dict[int, nn.Parameter] = {}
    if isinstance(embeddings, nn.Embedding):
        half = _half(embeddings.weight)
        shared[id(embeddings.weight)] = half
        for name, module in model.named_modules():
            if module is embeddings:
                parent_name, _, child_name = name.rpartition(".")
                parent = model.get_submodule(parent_name)
                setattr(parent, child_name, HalfEmbedding(embeddings, half))
                break
    for parent_name, child_name in _linear_targets(model):
        parent = model.get_submodule(parent_name)
        child: Any = getattr(parent, child_name)
        setattr(parent, child_name, HalfLinear(child, shared.get(id(child.weight))))
        del child
    _own_float_tensors(model)
