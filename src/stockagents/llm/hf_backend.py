"""The local backend: transformers (+ LoRA adapters), batched, schema-constrained.

One ``HFBackend`` holds one copy of a base model; LoRA adapters are loaded into it by
name (with peft), and a batch may mix rows for different adapters (and the bare base),
so the three analysts answer in one forward pass per token. At the first generation the
adapters are stacked (``stockagents.llm._stacked_lora``: two products per layer for any
mix, instead of peft's sub-batch per adapter) and, on CPU, the linear layers switch to
a smaller format (``stockagents.llm._cpu_weights``), because a decoding step is bound by
reading the weights. Decoding (``stockagents.llm._decoding``) uses the KV cache, reuses
the cached system prompt of each agent and feeds the tokens a schema forces without a
step each; rows with a schema are constrained by ``stockagents.llm._constrained``.

On CPU the model loads in float32 with one thread per core. ``quantize="auto"`` (the
default) picks ``"bf16"`` on a CPU that multiplies bfloat16 natively (AVX512-BF16 or
AMX) and ``"int8"`` elsewhere. ``"bf16"`` stores the linear weights in bfloat16 and
multiplies in bfloat16: 2.4x float32's throughput on wide products (the batches an
evaluation runs), with float32's held-out agreement. ``"int8"`` stores weights as int8 with
per-row scales and decodes on bfloat16 activations (2.2x faster per three-row step than
float16 storage here, and a trained adapter keeps its held-out agreement, see
``docs/LLM.md``); under ``"auto"`` a bare base model (no adapter) also rounds the
activations of wide calls to int8 per row (about 2x faster prefills), which adapters do
not get; ``"fp16"`` stores float16; ``"none"`` keeps exact float32 weights
(batch-independent results: the smaller formats switch kernels by batch width, so a
row's output can depend slightly on the rows beside it). On CUDA the model runs in bf16
(or fp16) and ``quantize`` does not apply.
``HFBackend.shared`` returns one instance per (model, dtype, device), so agents that
share a base share its weights.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from safetensors import SafetensorError

from stockagents.core.errors import BackendError, ConfigError
from stockagents.core.packages import is_installed, require_packages
from stockagents.core.threads import use_all_cpus
from stockagents.llm._stacked_lora import AdapterRouter
from stockagents.llm.base import Backend, Generation, GenerationRequest, Sampling
from stockagents.llm.presets import resolve_model

__all__ = ["BASE_WEIGHTS", "HFBackend", "bfloat16_base", "pick_dtype", "sample_ids"]

logger = logging.getLogger(__name__)

#: The weight formats on CPU (see the module docstring).
QUANTIZE_FORMATS = ("auto", "bf16", "int8", "fp16", "none")
#: Under ``quantize="auto"``, smaller models stay in float32.
AUTO_QUANTIZE_MIN_PARAMETERS = 10_000_000


#: What loading a model's or adapter's files can raise when they are missing, truncated
#: or corrupt (safetensors raises its own error, transformers and peft several).
_LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, SafetensorError)


def _cpu_format() -> str:
    """``quantize="auto"``'s format for a model worth shrinking on this CPU."""
    from stockagents.llm._cpu_weights import native_bfloat16

    return "bf16" if native_bfloat16() else "int8"


#: How a model trained on a CPU keeps its frozen base weights (``bfloat16_base``).
BASE_WEIGHTS = ("auto", "float32", "bfloat16")


def bfloat16_base(model: Any, choice: str) -> bool:
    """Store the frozen linear weights of ``model`` (a LoRA model about to be trained on
    a CPU) in bfloat16 and multiply in bfloat16, as ``quantize: bf16`` does for
    answering; the LoRA matrices, the input embedding and the norms stay float32, and the
    gradients reach the LoRA matrices through the bfloat16 products. ``auto`` does it on a
    CPU that multiplies bfloat16 natively, for a model of at least
    ``AUTO_QUANTIZE_MIN_PARAMETERS``; ``float32`` never. Returns whether it did."""
    from stockagents.llm._cpu_weights import to_bfloat16

    if choice not in BASE_WEIGHTS:
        raise ConfigError(f"base weights {choice!r}: use one of {', '.join(BASE_WEIGHTS)}")
    if choice == "float32" or any(p.device.type != "cpu" for p in model.parameters()):
        return False
    native = _cpu_format() == "bf16"  # the rule quantize: auto follows
    if choice == "auto":
        size = sum(p.numel() for p in model.parameters())
        if size < AUTO_QUANTIZE_MIN_PARAMETERS or not native:
            return False
    elif not native:
        logger.warning(
            "base_weights=bfloat16 on a CPU without native bfloat16 products: torch emulates "
            "them, slower than float32; 'auto' keeps float32 here"
        )
    to_bfloat16(model)
    return True


def _load_error(what: str, exc: BaseException) -> BackendError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = ""
    if isinstance(exc, (SafetensorError, RuntimeError, KeyError)):
        hint = "; its weight files look corrupt or incomplete: copy, re-export or retrain it"
    return BackendError(f"cannot load {what}: {reason}{hint}")


def pick_dtype(device: str, fp16: bool = False, bf16: bool = False) -> str:
    """float32 on CPU (asking for fp16/bf16 there is ignored with a warning)."""
    if device == "cpu":
        if fp16 or bf16:
            logger.warning("fp16/bf16 requested but running on CPU: using float32")
        return "float32"
    if bf16 or not fp16:
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16"


def _release_free_memory() -> None:
    """Give freed heap pages back to the OS (glibc only; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class HFBackend(Backend):
    """A local causal LM with optional LoRA adapters."""

    kind = "hf"
    _shared: ClassVar[dict[tuple[str, str, str], HFBackend]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        model: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        load_in_4bit: bool = False,
        quantize: str = "auto",
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        self.ref = str(model)
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        if self.device == "cpu":
            use_all_cpus()
        self.dtype = pick_dtype(self.device) if dtype == "auto" else dtype
        self._auto_quantize = quantize == "auto"
        if quantize not in QUANTIZE_FORMATS:
            raise BackendError(
                f"quantize={quantize!r}: use one of {', '.join(map(repr, QUANTIZE_FORMATS))}"
            )
        if quantize == "bf16" and self.device == "cpu" and _cpu_format() != "bf16":
            logger.warning(
                "quantize=bf16 on a CPU without native bfloat16 products: torch emulates "
                "them, slower than float32; 'auto' picks int8 here"
            )
        if quantize == "auto" or self.device != "cpu" or self.dtype != "float32":
            quantize = _cpu_format() if self.device == "cpu" and self.dtype == "float32" else "none"
        self.quantize = quantize
        #: Adapters stacked and weights shrunk for decoding (at the first generation).
        self._prepared = False
        self.router = AdapterRouter()
        self._stacked = False
        self.batch_size = batch_size
        self.path = resolve_model(self.ref)
        self._load_kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
        if load_in_4bit:
            self._load_kwargs.update(self._four_bit())
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(self.path)
        except _LOAD_ERRORS as exc:
            raise _load_error(f"model {self.ref!r}", exc) from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError(
                f"model {self.ref!r} has no chat template; agents need an instruction-tuned "
                "model (or add a chat_template to its tokenizer_config.json)"
            )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.base_model: Any = self._load_base()
        self.model: Any = self.base_model
        self.adapters: dict[str, str] = {}
        self._compiler: Any = None
        self._lock = threading.Lock()
        #: Keys and values of the agents' system prompts, per adapter (see llm._decoding).
        from stockagents.llm._decoding import PrefixCache

        self.prefix_cache = PrefixCache()
        self.cache_prefixes = True
        #: Feed the tokens a schema forces without a decoding step each (see llm._decoding).
        self.jump_forward = True
        self._system_ids: dict[str, list[int]] = {}
        #: Figures of the last batch: new tokens (all rows), decoding steps, seconds.
        self.last_stats: dict[str, float] = {}

    def _load_base(self) -> Any:
        from transformers import AutoModelForCausalLM

        try:
            base: Any = AutoModelForCausalLM.from_pretrained(self.path, **self._load_kwargs)
        except _LOAD_ERRORS as exc:
            raise _load_error(f"model {self.ref!r}", exc) from None
        if "device_map" not in self._load_kwargs:
            base.to(self.device)
        base.eval()
        return base

    def _four_bit(self) -> dict[str, Any]:
        if self.device != "cuda" or not is_installed("bitsandbytes"):
            logger.warning("load_in_4bit needs CUDA and bitsandbytes: loading unquantised")
            return {}
        from transformers import BitsAndBytesConfig

        return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True), "device_map": "auto"}

    def _prepare(self) -> None:
        """Ready the weights for decoding, once: stack the LoRA adapters
        (``llm._stacked_lora``, so a batch mixing adapters costs two products per layer),
        then switch the linear layers to ``self.quantize``'s format
        (``llm._cpu_weights``)."""
        from stockagents.llm._cpu_weights import quantize_int8, to_bfloat16, to_half
        from stockagents.llm._stacked_lora import stack_adapters

        if self.adapters:
            stacked = stack_adapters(self.model, self.router)
            if stacked is None:
                logger.info("adapters on %s do not stack: peft routes their rows", self.ref)
            else:
                self.model, self._stacked = stacked, True
        if self._auto_quantize and _parameters(self.model) < AUTO_QUANTIZE_MIN_PARAMETERS:
            # a toy model (the tiny preset): its products are too small for int8 or fp16
            # kernels to pay for themselves (a tiny-set backtest runs 2x faster in float32)
            self.quantize = "none"
        if self.quantize != "none":
            if self.quantize == "bf16":
                to_bfloat16(self.model)
            elif self.quantize == "int8":
                # A bare base model has no learned margins to lose: int8 activations
                # for wide calls too (2x faster prefills); adapters keep float ones.
                quantize_int8(self.model, activations=self._auto_quantize and not self.adapters)
            else:
                to_half(self.model)
            _release_free_memory()
        self._prepared = True
        self.prefix_cache.clear()

    @classmethod
    def shared(
        cls,
        model: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        load_in_4bit: bool = False,
        quantize: str = "auto",
        batch_size: int = 8,
    ) -> HFBackend:
        """One backend per (model files, device, dtype) in this process: a preset and the
        cache path it resolves to share one copy. The first caller's ``quantize`` holds
        (a later, different explicit choice is logged and ignored: it would need a second
        copy of the weights); the batch size is the largest asked for."""
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = pick_dtype(device)
        resolved = resolve_model(model)
        ident = os.path.realpath(resolved) if os.path.isdir(resolved) else resolved
        key = (ident, device, f"{dtype}{'-4bit' if load_in_4bit else ''}")
        with cls._shared_lock:
            backend = cls._shared.get(key)
            if backend is None:
                backend = cls(
                    model,
                    device=device,
                    dtype=dtype,
                    load_in_4bit=load_in_4bit,
                    quantize=quantize,
                    batch_size=batch_size,
                )
                cls._shared[key] = backend
            else:
                if quantize != "auto" and quantize != backend.quantize:
                    logger.warning(
                        "%s is already loaded with quantize=%s: quantize=%s ignored",
                        model, backend.quantize, quantize,
                    )  # fmt: skip
                backend.batch_size = max(backend.batch_size, batch_size)
        return backend

    @property
    def model_id(self) -> str:
        return self.ref

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Load the LoRA adapter in ``path`` under ``name`` (once)."""
        if name in self.adapters:
            return
        weights = ("adapter_model.safetensors", "adapter_model.bin")
        if Path(path).is_dir() and not any((Path(path) / w).is_file() for w in weights):
            raise BackendError(
                f"cannot load the LoRA adapter in {path}: no adapter_model.safetensors; "
                "copy the whole adapter directory, or retrain it"
            )
        require_packages("peft", needed_by="loading a LoRA adapter", install="pip install peft")
        from peft import PeftModel

        with self._lock:
            if self._prepared:  # adapters go on float layers: reload, re-add, prepare later
                self.base_model = self.model = None  # the old weights go before the new come
                self.prefix_cache.clear()
                gc.collect()
                _release_free_memory()
                self.base_model = self._load_base()
                self.model = self.base_model
                self._prepared = self._stacked = False
                previous, self.adapters = self.adapters, {}
                for old_name, old_path in previous.items():
                    if not Path(old_path).is_dir():  # removed since (a swept release)
                        logger.warning("adapter %s at %s is gone: dropped", old_name, old_path)
                        continue
                    self._attach(old_name, old_path, PeftModel)
            self._attach(name, str(path), PeftModel)
            self.prefix_cache.clear()

    def _attach(self, name: str, path: str, peft_model: Any) -> None:
        try:
            if not self.adapters:
                self.model = peft_model.from_pretrained(self.base_model, path, adapter_name=name)
            else:
                self.model.load_adapter(path, adapter_name=name)
        except _LOAD_ERRORS as exc:
            raise _load_error(f"the LoRA adapter in {path}", exc) from None
        self.model.eval()
        self.adapters[name] = path

    def _schema_compiler(self) -> Any:
        if self._compiler is None:
            from stockagents.llm._constrained import SchemaCompiler

            vocab = int(self.base_model.config.vocab_size)
            self._compiler = SchemaCompiler(self.tokenizer, vocab)
        return self._compiler

    def encode(self, request: GenerationRequest) -> list[int]:
        """Prompt token ids of ``request`` (the chat template with a generation prompt)."""
        ids: Any = self.tokenizer.apply_chat_template(
            request.messages, add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        return [g.text for g in self.complete(requests, sampling)]

    def complete(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            out.extend(self._generate_batch(requests[start : start + self.batch_size], sampling))
        return out

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[Generation]:
        with self._lock:  # adapters, quantization and the RNG are shared state
            return self._generate_locked(requests, sampling)

    def _generate_locked(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[Generation]:
        from stockagents.llm._decoding import DecodeRow, DecodeStats, decode

        if self.model is None:  # an adapter's reload of the base failed
            raise BackendError(f"model {self.ref!r} failed to reload; load it again")
        for request in requests:
            if request.adapter is not None and request.adapter not in self.adapters:
                raise BackendError(f"adapter {request.adapter!r} is not loaded on {self.ref}")
        if any(r.adapter for r in requests) and not self.adapters:
            raise BackendError("a request names an adapter but none is loaded")
        rows = []
        for request in requests:
            ids = self.encode(request)
            matcher = None
            if request.schema is not None:
                import xgrammar as xgr

                matcher = xgr.GrammarMatcher(self._schema_compiler().compile(request.schema))
            rows.append(
                DecodeRow(
                    ids=ids,
                    prefix_len=self._prefix_len(request, ids),
                    adapter=request.adapter,
                    matcher=matcher,
                )
            )
        started = time.perf_counter()
        if not self._prepared:
            import torch

            with torch.inference_mode():
                self._prepare()
        # Stacked adapters (or none) decode any mix in one batch; adapters left to peft
        # decode one adapter at a time, since peft cannot route every variant per row.
        adapters = list(dict.fromkeys(row.adapter for row in rows))
        groups = (
            [rows]
            if self._stacked or len(adapters) < 2
            else [[row for row in rows if row.adapter == a] for a in adapters]
        )
        stats = DecodeStats()
        for group in groups:
            part = decode(
                self.model,
                self.tokenizer,
                group,
                sampling,
                eos=int(self.tokenizer.eos_token_id),
                pad=int(self.tokenizer.pad_token_id),
                device=self.device,
                prefix_cache=self.prefix_cache if self.cache_prefixes else None,
                use_adapters=bool(self.adapters) and not self._stacked,
                jump_forward=self.jump_forward,
                router=self.router if self._stacked else None,
            )
            for key, value in vars(part).items():
                setattr(stats, key, getattr(stats, key) + value)
        self.last_stats = {
            "rows": float(len(requests)),
            "prompt_tokens": float(stats.prompt_tokens),
            "prefilled_tokens": float(stats.prefilled_tokens),
            "new_tokens": float(stats.new_tokens),
            "forced_tokens": float(stats.forced_tokens),
            "steps": float(stats.steps),
            "seconds": time.perf_counter() - started,
        }
        return [
            Generation(
                self.tokenizer.decode(row.out, skip_special_tokens=True).strip(), len(row.out)
            )
            for row in rows
        ]

    def _prefix_len(self, request: GenerationRequest, ids: list[int]) -> int:
        """How many leading prompt tokens are the system message (the same for every call
        of an agent, so their keys and values are cached)."""
        system = [m for m in request.messages[:1] if m.get("role") == "system"]
        if not system:
            return 0
        key = system[0].get("content", "")
        head = self._system_ids.get(key)
        if head is None:
            encoded: Any = self.tokenizer.apply_chat_template(system, tokenize=True)
            if isinstance(encoded, dict) or hasattr(encoded, "keys"):
                encoded = encoded["input_ids"]
            head = [int(i) for i in encoded]
            self._system_ids[key] = head
        common = 0
        for a, b in zip(head, ids, strict=False):
            if a != b:
                break
            common += 1
        return min(common, len(ids) - 1)

    def close(self) -> None:
        with self._shared_lock:
            for key, backend in list(self._shared.items()):
                if backend is self:
                    del self._shared[key]


def sample_ids(
    model: Any,
    tokenizer: Any,
    ids: Sequence[list[int]],
    sampling: Sampling,
    *,
    shared: int = 0,
) -> list[list[int]]:
    """Sample a completion (token ids, without the end-of-sequence token a row stops on)
    for each prompt of ``ids`` from ``model`` as it is now, with the decoding loop of
    this backend but no grammar (RL samples this way, its weights changing every step).
    The first ``shared`` tokens, common to every prompt, run once."""
    from stockagents.llm._decoding import DecodeRow, PrefixCache, decode

    rows = [DecodeRow(ids=list(i), prefix_len=shared) for i in ids]
    eos = int(tokenizer.eos_token_id)
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos)
    # a fresh prefix cache: the weights may have changed since the last call
    decode(model, tokenizer, rows, sampling, eos=eos, pad=pad,
           prefix_cache=PrefixCache(capacity=2), jump_forward=False)  # fmt: skip
    return [list(r.out) for r in rows]


def _parameters(model: Any) -> int:
    """How many weights ``model`` has (adapters included)."""
    return sum(int(p.numel()) for p in model.parameters())
