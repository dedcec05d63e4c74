"""Smaller weights for decoding on a CPU: bfloat16, weight-only int8 and float16 storage.

Decoding one token at a time on a CPU is bound by reading the weights from memory, so
fewer bytes per weight means a faster step; a wide call (a prefill, a batch of rows) is
bound by the products themselves. Three formats, chosen by ``HFBackend``:

- **bfloat16** (``to_bfloat16``, on a CPU with native bfloat16 products, see
  ``native_bfloat16``): linear weights are stored in bfloat16 and every product runs in
  bfloat16 (float32 accumulation) on activations rounded to bfloat16, the output taken
  back to float32. Measured here (2 cores, AVX512-BF16): 2.4x float32's throughput on a
  wide product and 7x the int8 format's, which dequantizes the weight for every wide
  call. The output layer multiplies in bfloat16 too (its own copy: the input embedding
  stays float32); a float32 one cost 10 ms a step and changed none of 60 decisions of a
  trained set. The residual stream, the norms and attention stay float32. Held-out
  agreement of trained adapters equals float32's (news 93%, technical 90%, fundamental
  92%, strategist 100%; int8 gave 95% for fundamental, two prompts of 60).
- **int8** (``quantize_int8``): each linear weight (and a tied embedding) is stored as
  int8 with one float32 scale per output row. A call with at most
  ``Int8Linear.small_rows`` rows (a decoding step) runs torch's int8 weight-only kernel
  on bfloat16 activations, which reads a quarter of float32's bytes. A wider call (a
  prefill, a wide batch) either dequantizes the weight to float32 first (weight-only,
  the default: activations keep their scale, and trained adapters keep their held-out
  agreement), or, with ``activations=True``, rounds each row of activations to int8 with
  its own scale and multiplies in int8 (``torch._int_mm``): about 2x faster prefills,
  but it cost trained adapters 2 to 5 points of agreement, so ``HFBackend`` uses it only
  for a bare base model. torch's dynamic int8 (``torch.ao``), used before, scaled the
  activations per batch and cost a technical adapter 92% -> 55%.
- **fp16 storage** (``to_half``): linear weights (and a tied embedding) are kept in
  float16, half the bytes of float32; activations stay float32. A call with at most
  ``HalfLinear.small_rows`` rows multiplies in float16; a larger one converts the weight
  to float32 first, because CPU float16 matrix products are slow at that size. An output
  that overflows float16 is recomputed in float32.

Both replace modules in place (LoRA matrices stay float32) and make the remaining float
tensors their own copies, so the loaded checkpoint's buffer is freed.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def _half(weight: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(weight.detach().to(torch.float16), requires_grad=False)


def _bias(linear: nn.Linear) -> nn.Parameter | None:
    """The layer's bias as a frozen float copy of its own."""
    bias: torch.Tensor | None = getattr(linear, "bias", None)
    if bias is None:
        return None
    return nn.Parameter(bias.detach().clone(), requires_grad=False)


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
        self.bias = _bias(linear)

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


class Int8Weight(nn.Module):
    """An int8 matrix with one float32 scale per row: ``weight * scale[:, None]``
    approximates the float matrix it was made from to half a step of its row's range
    divided by 254."""

    weight: torch.Tensor
    scale: torch.Tensor
    unit: torch.Tensor

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        source = weight.detach()
        scale = source.abs().amax(dim=1).to(torch.float32).clamp(min=1e-12) / 127.0
        packed = torch.empty(source.shape, dtype=torch.int8, device=source.device)
        for start in range(0, source.shape[0], 4096):  # small temporaries: a low peak
            rows = source[start : start + 4096].to(torch.float32)
            packed[start : start + 4096] = torch.round(rows / scale[start : start + 4096, None])
        self.register_buffer("weight", packed)
        self.register_buffer("scale", scale)
        # The kernel's own scale, in its activations' dtype: ones, so the real scale is
        # applied in float32 to its output instead of being rounded to bfloat16.
        self.register_buffer("unit", torch.ones(scale.shape[0], dtype=torch.bfloat16))

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        full: torch.Tensor = self.weight.to(dtype) * self.scale[:, None].to(dtype)
        return full.contiguous()


class Int8Linear(nn.Module):
    """A linear layer whose weight is stored in int8 with per-row scales (module
    docstring)."""

    #: Rows up to which torch's int8 weight-only kernel runs (on bfloat16 activations):
    #: measured here, faster than float32 up to 16 rows and slower from 32.
    small_rows = 16
    #: With int8 activations, calls wider than this take the int8 product instead: from
    #: 5 rows it is faster than the weight-only kernel here.
    int8_rows = 4
    #: The kernel reads its input in blocks of 16: other widths give garbage or crash
    #: (torch 2.13), so their layers always take the dequantized product.
    kernel_block = 16

    def __init__(
        self,
        linear: nn.Linear,
        packed: Int8Weight | None = None,
        int8_activations: bool = False,
    ) -> None:
        super().__init__()
        #: Wider calls quantize each row of activations to int8 too (see the module
        #: docstring) instead of taking the float32 product.
        self.int8_activations = int8_activations
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.packed = packed if packed is not None else Int8Weight(linear.weight)
        self.kernel = self.in_features % self.kernel_block == 0
        self.bias = _bias(linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(1, x.shape[-1])
        packed = self.packed
        narrow = rows <= (self.int8_rows if self.int8_activations else self.small_rows)
        if not self.kernel or x.device.type != "cpu" or not (narrow or self.int8_activations):
            return F.linear(x, packed.dequantized(x.dtype), self.bias)
        flat = x.reshape(rows, self.in_features)
        if narrow:
            product: torch.Tensor = torch.ops.aten._weight_int8pack_mm(
                flat.to(torch.bfloat16), packed.weight, packed.unit
            )
            out = product.to(x.dtype) * packed.scale.to(x.dtype)
        else:
            step = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
            quantized = torch.round(flat / step).to(torch.int8)
            total: torch.Tensor = torch._int_mm(quantized, packed.weight.t())
            out = (total.to(torch.float32) * step * packed.scale).to(x.dtype)
        out = out.reshape(*x.shape[:-1], self.out_features)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class Int8Embedding(nn.Module):
    """An embedding table stored in int8 with per-row scales that returns float32."""

    def __init__(self, embedding: nn.Embedding, packed: Int8Weight) -> None:
        super().__init__()
        self.num_embeddings = embedding.num_embeddings
        self.embedding_dim = embedding.embedding_dim
        self.padding_idx = embedding.padding_idx
        self.packed = packed

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(ids, self.packed.weight).to(torch.float32)
        return rows * self.packed.scale[ids].unsqueeze(-1)


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): elsewhere
    torch emulates it, slower than float32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


class BF16Linear(nn.Module):
    """A linear layer whose weight is stored in bfloat16 and multiplied in bfloat16
    (see the module docstring); takes and returns float32."""

    def __init__(self, linear: nn.Linear, weight: nn.Parameter | None = None) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = (
            weight
            if weight is not None
            else nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        )
        self.bias = _bias(linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bf16"


def to_bfloat16(model: nn.Module) -> None:
    """bfloat16 weights and products for ``model``'s linear layers (a tied output layer
    gets its own copy; the input embedding and LoRA matrices stay float32)."""
    for parent_name, child_name in _linear_targets(model):
        parent = model.get_submodule(parent_name)
        child: Any = getattr(parent, child_name)
        setattr(parent, child_name, BF16Linear(child))
        del child
    _own_float_tensors(model)


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


def _replace(
    model: nn.Module,
    linear_type: Callable[..., nn.Module],
    embedding_type: Callable[..., nn.Module],
    store: Callable[[torch.Tensor], Any],
) -> None:
    """Swap the input embedding and every plain linear layer for the smaller format,
    one at a time (a low peak); a linear layer tied to the embedding shares its table."""
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings: Any = get_embeddings() if get_embeddings is not None else None
    shared: dict[int, Any] = {}
    if isinstance(embeddings, nn.Embedding):
        table = shared[id(embeddings.weight)] = store(embeddings.weight)
        for name, module in model.named_modules():
            if module is embeddings:
                parent_name, _, child_name = name.rpartition(".")
                parent = model.get_submodule(parent_name)
                setattr(parent, child_name, embedding_type(embeddings, table))
                break
    for parent_name, child_name in _linear_targets(model):
        parent = model.get_submodule(parent_name)
        child: Any = getattr(parent, child_name)
        setattr(parent, child_name, linear_type(child, shared.get(id(child.weight))))
        del child
    _own_float_tensors(model)


def quantize_int8(model: nn.Module, activations: bool = False) -> None:
    """int8 for ``model``'s linear layers and input embedding (LoRA matrices stay
    float32); ``activations`` quantizes each row of a wide call's activations too. A tied
    output layer keeps sharing the embedding's (int8) table."""
    linear = functools.partial(Int8Linear, int8_activations=activations)
    _replace(model, linear, Int8Embedding, Int8Weight)


def to_half(model: nn.Module) -> None:
    """float16 storage for ``model``'s linear layers and input embedding (LoRA matrices
    stay float32). A tied output layer keeps sharing the embedding's (half) table."""
    _replace(model, HalfLinear, HalfEmbedding, _half)
