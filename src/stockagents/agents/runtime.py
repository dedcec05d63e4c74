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
from stockagents.core.errors import AgentError, ProviderUnavailableError
from stockagents.core.settings import load_settings
from stockagents.llm.base import Backend, Sampling

__all__ = ["AGENT_NAMES", "ModelRuntime", "load_runtime", "model_set_paths", "read_manifest"]

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


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a model directory, or {} when it has none."""
    file = path / "manifest.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AgentError(f"{file}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise AgentError(f"{file}: expected a JSON object")
    return data


def _api_backend(kind: str, model: str, base_url: str | None) -> Backend:
    settings = load_settings()
    if kind == "openai":
        from stockagents.llm.openai_backend import OpenAIBackend

        key = settings.openai_api_key
        return OpenAIBackend(model, api_key=key.get_secret_value() if key else None,
                             base_url=base_url)  # fmt: skip
    from stockagents.llm.anthropic_backend import AnthropicBackend

    key = settings.anthropic_api_key
    return AnthropicBackend(model, api_key=key.get_secret_value() if key else None,
                            base_url=base_url)  # fmt: skip


def _hf(model: str, options: Any) -> Any:
    from stockagents.llm.hf_backend import HFBackend, pick_dtype

    try:
        import torch
    except ImportError:
        raise ProviderUnavailableError(
            "model-backed agents need torch and transformers: pip install -r requirements.txt"
        ) from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = pick_dtype(device, fp16=getattr(options, "fp16", False),
                       bf16=getattr(options, "bf16", False))  # fmt: skip
    if getattr(options, "load_in_4bit", False) and device == "cpu":
        logger.warning("load_in_4bit needs CUDA and bitsandbytes: ignored on CPU")
    return HFBackend.shared(model, device=device, dtype=dtype)


def load_runtime(agent: str, model_path: str | Path, options: Any = None) -> ModelRuntime | None:
    """The runtime for ``agent`` at ``model_path``; None means the expert rules."""
    text = str(model_path).strip()
    sampling = Sampling(max_new_tokens=int(getattr(options, "max_new_tokens", 256)))
    prompt = prompt_version(agent)
    if text in ("", "expert"):
        return None
    for kind in ("openai", "anthropic"):
        if text.startswith(f"{kind}:"):
            model = text.split(":", 1)[1]
            backend = _api_backend(kind, model, None)
            return ModelRuntime(backend, None, sampling, text, f"{kind}:{model} prompt {prompt}")
    path = Path(text).expanduser()
    if not path.exists():
        if text.startswith((".", "/", "~")) or "/production" in text or text.startswith("models"):
            raise AgentError(f"{agent}: model path {text} does not exist")
        backend = _hf(text, options)
        return ModelRuntime(backend, None, sampling, text, f"{text} prompt {prompt}")
    manifest = read_manifest(path)
    kind = manifest.get("kind") or (
        "lora" if (path / "adapter_config.json").is_file()
        else "full" if (path / "config.json").is_file() else ""
    )  # fmt: skip
    if kind == "expert":
        return None
    if kind in ("openai", "anthropic"):
        model = str(manifest.get("model", ""))
        backend = _api_backend(kind, model, manifest.get("base_url"))
        return ModelRuntime(backend, None, sampling, text, f"{kind}:{model} prompt {prompt}")
    if kind == "full":
        backend = _hf(str(path), options)
        return ModelRuntime(backend, None, sampling, text, f"{path.name} prompt {prompt}")
    if kind == "lora":
        base = manifest.get("base_model")
        if not base:
            config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            base = config.get("base_model_name_or_path")
        if not base:
            raise AgentError(f"{path}: the adapter does not name its base model")
        backend = _hf(str(base), options)
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        name = f"{agent}-{digest}"
        backend.add_adapter(name, path)
        version = str(manifest.get("version") or f"lora:{path.name}")
        return ModelRuntime(backend, name, sampling, text, f"{version} on {base} prompt {prompt}")
    raise AgentError(
        f"{path}: not a model directory (no manifest.json, adapter_config.json or config.json)"
    )


def model_set_paths(models: str | Path) -> dict[str, str | None]:
    """Each agent's model path in the model set ``models`` (None: the expert rules).

    An entry is ``models/<agent>`` when that directory exists; a ``manifest.json`` at the
    top may map agents to paths (relative to the set), presets or ``expert`` instead.
    """
    root = Path(models).expanduser()
    if not root.is_dir():
        raise AgentError(f"model set {root} does not exist; pass a directory or leave it out")
    mapping = read_manifest(root).get("agents", {})
    out: dict[str, str | None] = {}
    for agent in AGENT_NAMES:
        entry = mapping.get(agent) if isinstance(mapping, dict) else None
        if entry in (None, "", "expert"):
            candidate = root / agent
            out[agent] = str(candidate) if entry is None and candidate.is_dir() else None
        elif (root / str(entry)).exists():
            out[agent] = str(root / str(entry))
        else:
            out[agent] = str(entry)
    return out
