"""Export a Llama-family model (an adapter merged into its base, a full model or a preset)
to GGUF with the ``gguf`` package, and prove the file answers as the model does.

``export_gguf(model_path, output_path, outtype="f16" | "q8_0")`` writes llama.cpp's
layout: the ``llama.*`` hyperparameters; the BPE tokenizer (``gpt2`` model, tokens,
types, merges, special ids, chat template, and llama.cpp's name for the pre-tokenizer,
without which llama.cpp splits text its own way: ``'s`` as ``' s``); and the tensors
under GGUF names, with the q and k projections permuted the way llama.cpp expects. 1-D
tensors (norms) stay float32; the matrices are f16 or q8_0. A manifest goes beside the
file (``<output>.json``).

The check loads the file back through transformers (which undoes the permutation), model
and tokenizer: the tokenizer must read the chat prompt into the same ids, and the model's
greedy tokens on it must be identical to the merged model's. The largest logit
difference is recorded (f16 and q8_0 round the weights). q8_0 rounds more than a real
model's near ties (SmolLM2-135M's logits move by up to 1.2, and one of 75 positions of an
agent prompt flips between two tokens 0.05 apart), so a q8_0 file whose greedy answer
parts from the model's passes if it reads the prompt and the model's answer as the model
does: the same top token at ``MIN_AGREEMENT`` of the positions, and where not, a token
the model ranks within ``NEAR_TIE`` of its logits' spread of its own best. A broken
export (a wrong permutation, a swapped tensor) agrees nowhere near that. A file that
fails the check is removed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stockagents.core.errors import ExportError
from stockagents.core.manifests import ExportCheck, GgufManifest, write_manifest
from stockagents.core.packages import REQUIREMENTS_INSTALL, require_packages
from stockagents.export.source import greedy, prepare

__all__ = ["export_gguf"]

logger = logging.getLogger(__name__)

OUTTYPES = ("f16", "q8_0")
#: q8_0's check: the share of positions whose top token must agree with the model's ...
MIN_AGREEMENT = 0.95
#: ... and how far below the model's best a differing pick may be (its logits' std there)
NEAR_TIE = 0.1


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary layout for q and k (what transformers' GGUF loader undoes)."""
    out = weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
    result: np.ndarray = out.swapaxes(1, 2).reshape(weights.shape)
    return result


def _byte_level(pre: Any) -> bool:
    return (
        isinstance(pre, dict)
        and pre.get("type") == "ByteLevel"
        and bool(pre.get("use_regex", True))
        and not pre.get("add_prefix_space", False)
    )


def _pre_tokenizer(pre: Any) -> str | None:
    """llama.cpp's name for a tokenizer's pre-tokenizer (``tokenizer.ggml.pre``): GPT-2's
    byte-level regex (``gpt-2``), or digits one by one before it (``smollm``, the tiny
    preset's); None for any other."""
    if _byte_level(pre):
        return "gpt-2"
    parts = pre.get("pretokenizers", []) if isinstance(pre, dict) else []
    if (
        isinstance(pre, dict)
        and pre.get("type") == "Sequence"
        and len(parts) == 2
        and parts[0] == {"type": "Digits", "individual_digits": True}
        and _byte_level(parts[1])
    ):
        return "smollm"
    return None


def _tokenizer_fields(writer: Any, tokenizer: Any) -> None:
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ExportError(f"only BPE tokenizers export to GGUF (this one is {model.get('type')})")
    vocab: dict[str, int] = dict(model["vocab"])
    for added in data.get("added_tokens", []):
        vocab[added["content"]] = int(added["id"])
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    for text, index in vocab.items():
        tokens[index] = text
    special = {int(a["id"]) for a in data.get("added_tokens", []) if a.get("special")}
    types = [3 if i in special else 1 for i in range(size)]  # 3 control, 1 normal
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    pre = _pre_tokenizer(data.get("pre_tokenizer"))
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    else:
        logger.warning("unknown pre-tokenizer: llama.cpp will split text its own way")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for name, value in (
        ("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
        ("pad", tokenizer.pad_token_id), ("unk", tokenizer.unk_token_id),
    ):  # fmt: skip
        if value is not None:
            getattr(writer, f"add_{name}_token_id")(int(value))
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _write(model: Any, tokenizer: Any, output: Path, outtype: str) -> None:
    import gguf

    cfg = model.config
    if getattr(cfg, "model_type", "") != "llama":
        raise ExportError(f"only Llama-family models export to GGUF (this is {cfg.model_type})")
    writer = gguf.GGUFWriter(str(output), "llama")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    rope = getattr(cfg, "rope_parameters", None) or {}  # transformers 5 keeps rope_theta here
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"rope scaling {rope.get('rope_type')!r} is not exported to GGUF")
    theta = rope.get("rope_theta") or getattr(cfg, "rope_theta", None) or 10000.0
    writer.add_rope_freq_base(float(theta))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    )
    _tokenizer_fields(writer, tokenizer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    state = model.state_dict()
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for name, tensor in state.items():
        if name == "lm_head.weight" and tied:
            continue
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ExportError(f"no GGUF name for the tensor {name}")
        data = tensor.detach().to("cpu").float().numpy()
        if name.endswith("q_proj.weight"):
            data = _permute(data, cfg.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            data = _permute(data, cfg.num_key_value_heads)
        if data.ndim == 1:
            writer.add_tensor(target, data.astype(np.float32))
        elif outtype == "f16":
            writer.add_tensor(target, data.astype(np.float16))
        else:
            quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(target, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _agreement(ours: Any, theirs: Any) -> tuple[float, float]:
    """From two models' logits at the same positions: the share where their top tokens
    agree, and the largest shortfall of the second's pick in the first's logits, in units
    of the first's logits' std at that position (0 where all agree)."""
    picked = theirs.argmax(-1)
    same = picked == ours.argmax(-1)
    shortfall = ours.max(-1).values - ours.gather(-1, picked.unsqueeze(-1)).squeeze(-1)
    spread = ours.std(-1).clamp(min=1e-12)
    return float(same.float().mean()), float((shortfall / spread).max())


def export_gguf(
    model_path: str | Path, output_path: str | Path, *, outtype: str = "f16", check_tokens: int = 8
) -> GgufManifest:
    """Export and check (see the module docstring); returns the manifest."""
    require_packages(
        "gguf", "torch", "transformers", needed_by="GGUF export", install=REQUIREMENTS_INSTALL
    )
    import torch
    from transformers import AutoModelForCausalLM

    if outtype not in OUTTYPES:
        raise ExportError(f"--outtype {outtype!r}: use {' or '.join(OUTTYPES)}")
    started = time.perf_counter()
    job = prepare(model_path, output_path, ".gguf")
    model, tokenizer, output, text, ids = job.model, job.tokenizer, job.output, job.text, job.ids
    _write(model, tokenizer, output, outtype)
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            str(output.parent), gguf_file=output.name, dtype=torch.float32
        )
    except Exception as exc:
        output.unlink(missing_ok=True)
        raise ExportError(f"transformers cannot load the GGUF file back ({exc})") from None
    loaded.train(False)
    try:  # the tokenizer must come back too, and read the prompt the same way
        from transformers import AutoTokenizer

        again = AutoTokenizer.from_pretrained(str(output.parent), gguf_file=output.name)
        same_tokens = [int(i) for i in again(text, add_special_tokens=False)["input_ids"]] == ids
    except Exception:
        same_tokens = False
    if not same_tokens:
        output.unlink(missing_ok=True)
        raise ExportError("the GGUF file's tokenizer does not read the prompt as the model's does")

    def step(m: Any) -> Callable[[list[int]], Any]:
        def logits(tokens: list[int]) -> Any:
            with torch.no_grad():
                return m(input_ids=torch.tensor([tokens]), use_cache=False).logits[0]

        return logits

    ours, theirs = greedy(step(model), ids, check_tokens), greedy(step(loaded), ids, check_tokens)
    ours_logits, theirs_logits = step(model)(ids)[-1], step(loaded)(ids)[-1]
    difference = float((ours_logits - theirs_logits).abs().max())
    agreement = worst = None
    if ours != theirs and outtype == "q8_0":
        path = ids + ours  # the prompt and the model's answer, read by both
        agreement, worst = _agreement(step(model)(path), step(loaded)(path))
        if agreement >= MIN_AGREEMENT and worst <= NEAR_TIE:
            logger.info(
                "q8_0: the greedy answer parts from the model's at a near tie; top tokens "
                "agree at %.1f%% of %d positions, the worst pick %.3f of the logits' spread "
                "below the best", 100 * agreement, len(path), worst,
            )  # fmt: skip
        else:
            output.unlink(missing_ok=True)
            raise ExportError(
                f"the q8_0 GGUF file does not read as the model: top tokens agree at "
                f"{agreement:.1%} of {len(path)} positions (at least {MIN_AGREEMENT:.0%} needed), "
                f"the worst pick {worst:.2f} of the logits' spread below the best "
                f"(at most {NEAR_TIE})"
            )
    elif ours != theirs:
        output.unlink(missing_ok=True)
        raise ExportError(
            f"the GGUF file does not answer as the model: greedy tokens differ "
            f"(first-step logits differ by up to {difference:.2e})"
        )
    manifest = GgufManifest(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=job.source,
        file=output.name,
        outtype=outtype,
        bytes=output.stat().st_size,
        check=ExportCheck(
            loaded_by="transformers",
            prompt_tokens=len(ids),
            max_logit_difference=difference,
            greedy_tokens=check_tokens,
            greedy_identical=ours == theirs,
            tokenizer_identical=True,
            top1_agreement=agreement,
            worst_tie=worst,
        ),
        seconds=round(time.perf_counter() - started, 2),
    )
    write_manifest(output.with_name(output.name + ".json"), manifest)
    return manifest
