"""Turning a ``model_path`` into something that answers: a backend, an adapter, a version.

What a model path may be:

- ``expert`` (or empty): the rule-based agent;
- a directory with ``manifest.json`` whose ``kind`` is ``lora`` (a peft adapter beside
  it, on the manifest's ``base_model``), ``full`` (a complete model), ``openai`` or
  ``anthropic`` (``model``, optional ``base_url``), or ``expert``;
- a directory holding a peft adapter (``adapter_config.json``) or a full model
  (``config.json``) without a manifest;
- ``openai:MODEL`` or ``anthropic:MODEL``: an API model (keys from the environment);
- a preset (``tiny``, ``smollm2-135m``) or a Hugging Face id: a base model, prompted.

Adapters on the same base share one ``HFBackend`` (one copy of the weights).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.prompting import prompt_version
from stockagents.core.errors import AgentError, BackendError, ProviderUnavailableError
from stockagents.core.manifests import ModelManifest, ModelSetManifest, find_manifest
from stockagents.core.packages import TORCH_INSTALL, require_packages
from stockagents.core.settings import load_settings
from stockagents.llm.base import Backend, Sampling
from stockagents.llm.presets import PRESETS

__all__ = [
    "AGENT_NAMES",
    "ModelRuntime",
    "load_runtime",
    "model_set_paths",
    "read_manifest",
    "read_set_manifest",
]

AGENT_NAMES = ("news", "technical", "fundamental", "strategist")

logger = logging.getLogger(__name__)


@dataclass
class ModelRuntime:
    """How one agent reaches its model."""

    backend: Backend
    adapter: str | None
    sampling: Sampling
    source: str
    version: str


def read_manifest(path: Path) -> ModelManifest | None:
    """The manifest of a model directory, or None when it has none; a malformed one is
    an ``AgentError`` naming the file and the field."""
    return find_manifest(path / "manifest.json", ModelManifest, AgentError)


def read_set_manifest(root: Path) -> ModelSetManifest | None:
    """The manifest of a model set (or a production release), or None when it has none."""
    return find_manifest(root / "manifest.json", ModelSetManifest, AgentError)


def _api_backend(kind: str, model: str, base_url: str | None) -> Backend:
    # With a base_url (another server) the real key is never sent: the backend uses a
    # placeholder. Without one, the key comes from the environment / .env.
    settings = load_settings()
    if kind == "openai":
        from stockagents.llm.openai_backend import OpenAIBackend

        key = settings.openai_api_key if base_url is None else None
        return OpenAIBackend(
            model, api_key=key.get_secret_value() if key else None, base_url=base_url
        )
    from stockagents.llm.anthropic_backend import AnthropicBackend

    key = settings.anthropic_api_key if base_url is None else None
    return AnthropicBackend(
        model, api_key=key.get_secret_value() if key else None, base_url=base_url
    )


def _hf(model: str, options: Any) -> Any:
    require_packages(
        "torch", "transformers", "peft", "xgrammar",
        needed_by="a model-backed agent", install=TORCH_INSTALL,
    )  # fmt: skip
    import torch

    from stockagents.llm.hf_backend import HFBackend, pick_dtype

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = pick_dtype(
        device, fp16=getattr(options, "fp16", False), bf16=getattr(options, "bf16", False)
    )
    four_bit = bool(getattr(options, "load_in_4bit", False))
    if four_bit and device == "cpu":
        logger.warning("load_in_4bit needs CUDA and bitsandbytes: ignored on CPU")
        four_bit = False
    return HFBackend.shared(
        model,
        device=device,
        dtype=dtype,
        load_in_4bit=four_bit,
        quantize=str(getattr(options, "quantize", "auto")),
        batch_size=int(getattr(options, "batch_size", 8)),
    )


def _api_prefix(text: str) -> str | None:
    return next((k for k in ("openai", "anthropic") if text.startswith(f"{k}:")), None)


def load_runtime(agent: str, model_path: str | Path, options: Any = None) -> ModelRuntime | None:
    """The runtime for ``agent`` at ``model_path``; None means the expert rules.

    Any failure to load (missing files, a malformed manifest or adapter, a missing
    package) is an ``AgentError`` / ``ProviderUnavailableError`` naming the path.
    """
    try:
        return _load_runtime(agent, model_path, options)
    except (AgentError, ProviderUnavailableError, BackendError):
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AgentError(f"{agent}: cannot load the model at {model_path} ({detail})") from None


def _load_runtime(agent: str, model_path: str | Path, options: Any) -> ModelRuntime | None:
    text = str(model_path).strip()
    sampling = Sampling(max_new_tokens=int(getattr(options, "max_new_tokens", 256)))
    prompt = prompt_version(agent)
    if text in ("", "expert"):
        return None
    kind = _api_prefix(text)
    if kind is not None:
        model = text.split(":", 1)[1]
        backend = _api_backend(kind, model, None)
        return ModelRuntime(backend, None, sampling, text, f"{kind}:{model} prompt {prompt}")
    if text in PRESETS:
        return ModelRuntime(_hf(text, options), None, sampling, text, f"{text} prompt {prompt}")
    path = Path(text).expanduser()
    if not path.exists():
        if text.startswith((".", "/", "~")) or len(Path(text).parts) != 2:
            raise AgentError(f"{agent}: model path {text} does not exist")
        backend = _hf(text, options)  # OWNER/NAME: a Hugging Face id
        return ModelRuntime(backend, None, sampling, text, f"{text} prompt {prompt}")
    manifest = read_manifest(path) or ModelManifest()
    kind = manifest.kind or (
        "lora" if (path / "adapter_config.json").is_file()
        else "full" if (path / "config.json").is_file() else ""
    )  # fmt: skip
    if kind == "expert":
        return None
    if kind in ("openai", "anthropic"):
        model = manifest.model or ""  # the manifest says one (ModelManifest checks)
        backend = _api_backend(kind, model, manifest.base_url)
        return ModelRuntime(backend, None, sampling, text, f"{kind}:{model} prompt {prompt}")
    if kind == "full":
        backend = _hf(str(path), options)
        return ModelRuntime(backend, None, sampling, text, f"{path.name} prompt {prompt}")
    if kind == "lora":
        if not (path / "adapter_config.json").is_file():
            raise AgentError(f"{path}: kind lora but no adapter_config.json beside the manifest")
        base = manifest.base_model
        if not base:
            config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
        if not base:
            raise AgentError(f"{path}: the adapter does not name its base model")
        base = str(base)
        if base not in PRESETS and (path / base).exists():  # relative to the adapter
            base = str((path / base).resolve())
        backend = _hf(base, options)
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        name = f"{agent}-{digest}"
        backend.add_adapter(name, path)
        version = manifest.version or f"lora:{path.name}"
        return ModelRuntime(backend, name, sampling, text, f"{version} on {base} prompt {prompt}")
    if not manifest.is_empty():
        raise AgentError(
            f"{path / 'manifest.json'}: no kind, and no adapter_config.json or config.json "
            "beside it; set kind to lora, full, openai, anthropic or expert"
        )
    raise AgentError(
        f"{path}: not a model directory (no manifest.json, adapter_config.json or config.json)"
    )


def model_set_paths(models: str | Path) -> dict[str, str | None]:
    """Each agent's model path in the model set ``models`` (None: the expert rules).

    An entry is ``models/<agent>`` when that directory exists; a ``manifest.json`` at the
    top may map agents to paths inside the set, presets, ``openai:``/``anthropic:``
    models, Hugging Face ids (``owner/name``) or ``expert`` instead.
    """
    root = Path(models).expanduser()
    if not root.is_dir():
        raise AgentError(f"model set {root} does not exist; pass a directory or leave it out")
    manifest = read_set_manifest(root)
    mapping = manifest.agents if manifest is not None else {}
    unknown = set(mapping) - set(AGENT_NAMES)
    if unknown:
        raise AgentError(f"{root / 'manifest.json'}: unknown agents {sorted(unknown)}")
    out: dict[str, str | None] = {}
    for agent in AGENT_NAMES:
        entry = mapping.get(agent)
        if entry is None:
            candidate = root / agent
            out[agent] = str(candidate) if candidate.is_dir() else None
            continue
        if entry in ("", "expert"):
            out[agent] = None
        elif (root / entry).exists():
            out[agent] = str(root / entry)
        elif entry in PRESETS or _api_prefix(entry) or len(Path(entry).parts) == 2:
            out[agent] = entry
        else:
            raise AgentError(
                f"{root / 'manifest.json'}: {agent} -> {entry!r} is neither a path inside the "
                "set, a preset, an openai:/anthropic: model nor a Hugging Face id"
            )
    if (manifest is None or manifest.is_empty()) and not any(out.values()):
        raise AgentError(
            f"model set {root} has no news, technical, fundamental or strategist entry "
            "(and no manifest.json); use --models expert for the rules"
        )
    return out
