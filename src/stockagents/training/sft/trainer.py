"""Supervised fine-tuning of one agent: a LoRA adapter on a local base model, with TRL.

``train_agent(config)`` reads the JSONL examples (``training.sft.data``), holds out a
validation split, trains a LoRA adapter with TRL's ``SFTTrainer`` on the conversational
prompt-completion format (the loss is on the completion tokens only), keeps
``checkpoint-N`` directories in the output directory and writes ``final/``: the adapter,
the tokenizer and a ``manifest.json`` that ``stockagents.agents.runtime`` loads.

Speed on a CPU (see bench/sft.py): the frozen base weights in bfloat16 where the CPU
multiplies bfloat16 natively (``model.base_weights``; 1.4x a step here; bf16 autocast
recasts every weight at every call and gained 1.1x), else float32; no gradient
checkpointing, one torch thread per core, batches of similar length, and the
LM head applied to the completion positions only (the prompt positions carry no loss, and
on a CPU TRL's fused head projects every position through the 49k-word vocabulary).
4-bit loading and Unsloth are used only with CUDA and the packages installed.

Logging goes to TensorBoard (``output_dir/runs``) and to W&B, offline under
``output_dir/wandb`` unless ``WANDB_API_KEY`` is set. This module configures no logging
handlers and never reaches the network on its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.prompting import prompt_version
from stockagents.core.errors import AgentError, ConfigError
from stockagents.core.formatting import format_or_na
from stockagents.core.manifests import (
    ModelManifest,
    SFTTraining,
    TrainedOn,
    TrainingData,
    load_manifest,
    write_manifest,
)
from stockagents.core.packages import TORCH_INSTALL, is_installed, require_packages
from stockagents.core.provenance import TrainingWindow
from stockagents.llm.presets import resolve_model
from stockagents.training.processes import share_cpus, world_size
from stockagents.training.progress import step_progress
from stockagents.training.sft.config import SFTConfig
from stockagents.training.sft.data import (
    SFTExample,
    file_sha256,
    read_sft_jsonl,
    split_validation,
)
from stockagents.training.tracking import available_reporters, wandb_env

__all__ = ["SFTResult", "latest_checkpoint", "resume_from", "top_layers", "train_agent"]

logger = logging.getLogger(__name__)

_CHECKPOINT_PREFIX = "checkpoint-"


@dataclass(frozen=True)
class SFTResult:
    """What an SFT run produced."""

    final_dir: Path
    manifest: ModelManifest
    global_step: int
    train_loss: float | None
    eval_loss: float | None
    perplexity: float | None
    resumed_from: Path | None
    seconds: float
    tokens_per_second: float


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The highest ``checkpoint-N`` in ``output_dir`` that was completely written.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint without it was cut
    short (a killed run) and is skipped.
    """
    if not output_dir.is_dir():
        return None
    found: list[tuple[int, Path]] = []
    for entry in output_dir.iterdir():
        suffix = entry.name.removeprefix(_CHECKPOINT_PREFIX)
        if entry.name.startswith(_CHECKPOINT_PREFIX) and suffix.isdigit() and entry.is_dir():
            if (entry / "trainer_state.json").is_file():
                found.append((int(suffix), entry))
            else:
                logger.warning("%s is incomplete (no trainer_state.json): not resumed", entry)
    return max(found)[1] if found else None


def resume_from(wanted: str | None, output_dir: Path) -> Path | None:
    """The checkpoint a run resumes from: None for ``None``, the latest complete one in
    ``output_dir`` for ``"auto"``, else ``wanted`` itself, which must be complete."""
    if wanted is None:
        return None
    if wanted == "auto":
        return latest_checkpoint(output_dir)
    path = Path(wanted).expanduser()
    if not (path / "trainer_state.json").is_file():
        raise ConfigError(
            f"training.resume_from_checkpoint: {path} is not a complete checkpoint "
            "(no trainer_state.json); use 'auto', another checkpoint-N or null"
        )
    return path


def top_layers(model: Any, count: int | None) -> list[int] | None:
    """The indices of the top ``count`` decoder layers of ``model`` (None: all)."""
    if count is None:
        return None
    total = int(model.config.num_hidden_layers)
    return list(range(max(0, total - count), total))


def _use_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _precision(config: SFTConfig, cuda: bool) -> tuple[bool, bool]:
    """(bf16, fp16) for the Trainer: float32 on a CPU whatever the config asks."""
    bf16, fp16 = config.training.bf16, config.training.fp16
    if not cuda:
        if bf16 or fp16:
            logger.warning("bf16/fp16 asked for but there is no CUDA device: training in float32")
        return False, False
    if bf16:
        import torch

        if not torch.cuda.is_bf16_supported():
            logger.warning("this GPU has no bf16: training in fp16")
            return False, True
    return bf16, fp16


def _optional_feature(name: str, package: str, cuda: bool) -> bool:
    if not cuda:
        logger.warning("%s needs CUDA: ignored, training the plain float model", name)
        return False
    if not is_installed(package):
        logger.warning("%s needs the %s package: ignored (pip install %s)", name, package, package)
        return False
    return True


def _load_with_unsloth(config: SFTConfig, path: str, four_bit: bool) -> tuple[Any, Any]:
    """Unsloth's patched model with its LoRA (imported only here: it needs a GPU)."""
    import importlib

    unsloth: Any = importlib.import_module("unsloth")
    model, tokenizer = unsloth.FastLanguageModel.from_pretrained(
        model_name=path, max_seq_length=config.model.max_seq_length, load_in_4bit=four_bit
    )
    model = unsloth.FastLanguageModel.get_peft_model(
        model,
        r=config.model.lora_rank,
        lora_alpha=config.model.lora_alpha,
        lora_dropout=config.model.lora_dropout,
        target_modules=list(config.model.target_modules),
        use_gradient_checkpointing="unsloth" if config.model.gradient_checkpointing else False,
        random_state=config.training.seed,
    )
    return model, tokenizer


def _load_model(config: SFTConfig, cuda: bool, bf16: bool) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft LoraConfig or None when the model already has its LoRA)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any
    tokenizer: Any
    path = resolve_model(config.model.base_model)
    four_bit = config.model.load_in_4bit and _optional_feature("load_in_4bit", "bitsandbytes", cuda)
    if config.model.use_unsloth and _optional_feature("use_unsloth", "unsloth", cuda):
        model, tokenizer = _load_with_unsloth(config, path, four_bit)
        return model, tokenizer, None
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if four_bit:
        import transformers

        quantization: Any = transformers.BitsAndBytesConfig  # not annotated
        compute = torch.bfloat16 if bf16 else torch.float16
        kwargs = {
            "dtype": compute,
            "quantization_config": quantization(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute
            ),
        }
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"model.base_model: {config.model.base_model!r} has no chat template; "
            "SFT on chat prompts needs an instruction-tuned model"
        )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if four_bit:
        import peft

        prepare: Any = peft.prepare_model_for_kbit_training  # not annotated
        model = prepare(model, use_gradient_checkpointing=config.model.gradient_checkpointing)
    layers = top_layers(model, config.model.lora_layers)
    lora = LoraConfig(
        r=config.model.lora_rank,
        lora_alpha=config.model.lora_alpha,
        lora_dropout=config.model.lora_dropout,
        target_modules=list(config.model.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    return model, tokenizer, lora


#: Shorter shared prefixes are not worth a separate forward pass.
MIN_SHARED_PREFIX = 16


def shared_prefix_length(input_ids: Any, attention_mask: Any, labels: Any) -> int:
    """How many leading tokens every row of a batch has in common, unpadded and unlabelled
    (the system prompt and the chat template's opening): 0 when not worth sharing."""
    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0)
    if attention_mask is not None:
        same &= (attention_mask == 1).all(dim=0)
    same &= (labels == -100).all(dim=0)
    run = int(same.long().cumprod(dim=0).sum().item())
    run = min(run, input_ids.shape[1] - 2)  # at least one token after the prefix, and a target
    return run if run >= MIN_SHARED_PREFIX else 0


def _completion_hidden(backbone: Any, features: dict[str, Any], labels: Any) -> tuple[Any, Any]:
    """The backbone's hidden states and the next-token targets they predict. The prefix
    all rows share (the agent's system prompt) runs once at batch size 1, and the rows
    continue from its cached keys and values, expanded to the batch: the same values and
    the same gradients as running every row whole, for 25-40% fewer tokens per step on
    the agents' prompts. Hidden states before the prefix's end predict prompt tokens,
    which carry no loss, so they are not needed."""
    ids, mask = features["input_ids"], features.get("attention_mask")
    checkpointing = getattr(backbone, "gradient_checkpointing", False)  # it drops caches
    shared = 0 if checkpointing else shared_prefix_length(ids, mask, labels)
    if not shared:
        hidden = backbone(**features, use_cache=False).last_hidden_state[:, :-1]
        return hidden, labels[:, 1:]
    from transformers import DynamicCache

    batch = ids.shape[0]
    cache = DynamicCache()
    backbone(input_ids=ids[:1, :shared], past_key_values=cache, use_cache=True)
    layer: Any
    for layer in cache.layers:
        layer.keys = layer.keys.expand(batch, -1, -1, -1)
        layer.values = layer.values.expand(batch, -1, -1, -1)
    rest = backbone(
        input_ids=ids[:, shared:],
        attention_mask=mask,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    return rest[:, :-1], labels[:, shared + 1 :]


def _trainer_classes() -> tuple[type[Any], type[Any]]:
    """The trainer subclass and the step timer (built lazily: trl and torch are heavy)."""
    return _completion_trainer_class(), _step_timer_class()


def _completion_trainer_class() -> type[Any]:
    """Build ``CompletionSFTTrainer``, TRL's trainer with the completion-only LM head."""
    import torch
    import torch.nn.functional as F
    from trl.trainer.sft_trainer import SFTTrainer

    class CompletionSFTTrainer(SFTTrainer):
        """``SFTTrainer`` whose loss projects only the completion positions through the LM
        head (same loss, same normalisation), and logs perplexity and tokens."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.train_tokens = 0
            self._accuracy: dict[str, list[float]] = {"train": [], "eval": []}

        def _causal_lm(self, model: Any) -> Any:
            unwrapped = self.accelerator.unwrap_model(model)
            if hasattr(unwrapped, "get_base_model"):
                unwrapped = unwrapped.get_base_model()
            return unwrapped

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            causal = self._causal_lm(model)
            backbone = getattr(causal, "base_model", None)
            if backbone is None or backbone is causal:
                parent: Any = super()
                return parent.compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if model.training else "eval"
            labels = inputs["labels"]
            features = {k: v for k, v in inputs.items() if k != "labels"}
            hidden, targets = _completion_hidden(backbone, features, labels)
            mask = targets != -100
            logits = causal.get_output_embeddings()(hidden[mask]).float()
            picked = targets[mask]
            total = F.cross_entropy(logits, picked, reduction="sum")
            count = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = total / torch.as_tensor(count, device=total.device).clamp(min=1)
            with torch.no_grad():
                if picked.numel():
                    hits = (logits.argmax(-1) == picked).float().mean().item()
                    self._accuracy[mode].append(hits)
            if mode == "train":
                if "attention_mask" in inputs:
                    self.train_tokens += int(inputs["attention_mask"].sum().item())
                else:
                    self.train_tokens += int(inputs["input_ids"].numel())
            # Evaluation asks for outputs; the loss is all it uses (prediction_loss_only).
            return (loss, {"loss": loss}) if return_outputs else loss

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            prefix = "eval_" if "eval_loss" in logs else ""
            values = self._accuracy["eval" if prefix else "train"]
            if values:
                logs[f"{prefix}mean_token_accuracy"] = sum(values) / len(values)
                values.clear()
            if "eval_loss" in logs:
                logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 50.0))
            elif "loss" in logs:
                logs["num_tokens"] = float(self.train_tokens)
            super().log(logs, start_time)

    return CompletionSFTTrainer


def _step_timer_class() -> type[Any]:
    """Build ``StepTimer``, the callback that times the optimizer steps."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Seconds spent in optimizer steps (not in evaluation or saving)."""

        def __init__(self) -> None:
            self.seconds = 0.0
            self._started: float | None = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self._started is not None:
                self.seconds += time.perf_counter() - self._started
                self._started = None

    return StepTimer


def _dataset(examples: list[SFTExample]) -> Any:
    from datasets import Dataset  # type: ignore[import-untyped]

    return Dataset.from_list([e.as_record() for e in examples])


def _load_examples(config: SFTConfig) -> tuple[list[SFTExample], list[SFTExample]]:
    agent = config.agent_name
    examples = read_sft_jsonl(config.data.dataset_path, agent=agent)
    if config.data.validation_path is not None:
        return examples, read_sft_jsonl(config.data.validation_path, agent=agent)
    train, validation = split_validation(
        examples, config.training.validation_fraction, config.training.seed
    )
    if config.training.validation_fraction > 0 and not validation:
        logger.warning("only %d example(s): no validation split, no early stopping", len(train))
    return train, validation


def _trl_args(
    config: SFTConfig, output_dir: Path, validate: bool, cuda: bool, reporters: list[str]
) -> Any:
    from trl.trainer.sft_config import SFTConfig as TRLConfig

    bf16, fp16 = _precision(config, cuda)
    train = config.training
    return TRLConfig(
        output_dir=str(output_dir),
        run_name=f"sft-{config.agent_name}-{dt.datetime.now():%Y%m%d-%H%M%S}",
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_steps=train.max_steps,
        learning_rate=train.learning_rate,
        warmup_steps=train.warmup_steps,
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        eval_strategy="steps" if validate else "no",
        eval_steps=config.eval_steps if validate else None,
        load_best_model_at_end=validate,
        metric_for_best_model="eval_loss" if validate else None,
        greater_is_better=False if validate else None,
        seed=train.seed,
        data_seed=train.seed,
        bf16=bf16,
        fp16=fp16,
        gradient_checkpointing=config.model.gradient_checkpointing,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        max_length=config.model.max_seq_length,
        packing=False,
        padding_free=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        report_to=reporters or "none",
        disable_tqdm=True,  # training.progress shows the steps
        prediction_loss_only=True,
        # under a launcher (accelerate launch, torchrun) without CUDA: data parallel on CPU
        use_cpu=world_size() > 1 and not cuda,
        ddp_backend="gloo" if world_size() > 1 and not cuda else None,
    )


def _trained_on(examples: Sequence[SFTExample]) -> TrainedOn | None:
    """The ``as_of`` window of the examples (None when they carry no dates)."""
    window = TrainingWindow.from_dates(str(e.meta.get("as_of") or "") for e in examples)
    return window.to_record() if window else None


def _write_final(
    trainer: Any, tokenizer: Any, output_dir: Path, manifest: ModelManifest
) -> tuple[Path, ModelManifest]:
    """Write ``final/`` next to the checkpoints: built aside, then renamed into place."""
    final = output_dir / "final"
    staging = output_dir / ".final-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    trainer.model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    weights = staging / "adapter_model.safetensors"
    digest = file_sha256(weights)[:8] if weights.is_file() else "unknown"
    manifest = manifest.model_copy(update={"version": f"sft-{manifest.agent}-{digest}"})
    write_manifest(staging / "manifest.json", manifest)
    previous = output_dir / ".final-old"
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return final, manifest


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    for entry in reversed(history):
        if key in entry:
            return float(entry[key])
    return None


@dataclass(frozen=True)
class _Fit:
    """A finished training run: the trainer and the figures the manifest records."""

    trainer: Any
    tokenizer: Any
    train_examples: list[SFTExample]
    validation_examples: list[SFTExample]
    cuda: bool
    resume: Path | None
    training_loss: float
    eval_loss: float | None
    seconds: float
    tokens_per_second: float

    @property
    def perplexity(self) -> float | None:
        """``exp`` of the evaluation loss (capped at ``exp(50)``), when there is one."""
        return math.exp(min(self.eval_loss, 50.0)) if self.eval_loss is not None else None


def _callbacks(
    config: SFTConfig, timer: Any, callbacks: Sequence[Any], validate: bool
) -> list[Any]:
    """The trainer's callbacks: the step timer, the caller's, and early stopping."""
    from transformers import EarlyStoppingCallback

    extra: list[Any] = [timer, *callbacks]
    if validate and config.training.early_stopping_patience:
        extra.append(EarlyStoppingCallback(config.training.early_stopping_patience))
    return extra


def _fit(config: SFTConfig, callbacks: Sequence[Any]) -> _Fit:
    """Load the data and the model, train (resuming when asked) and evaluate."""
    output_dir = config.output_dir
    train_examples, validation_examples = _load_examples(config)
    cuda = _use_cuda()
    if not cuda:
        share_cpus()
    resume = resume_from(config.training.resume_from_checkpoint, output_dir)
    bf16, _ = _precision(config, cuda)
    model, tokenizer, lora = _load_model(config, cuda, bf16)
    reporters = available_reporters(config.training.report_to)
    validate = bool(validation_examples)
    args = _trl_args(config, output_dir, validate, cuda, reporters)
    trainer_class, timer_class = _trainer_classes()
    timer = timer_class()
    extra = _callbacks(config, timer, callbacks, validate)
    started = time.perf_counter()
    with wandb_env(output_dir, "wandb" in reporters, project="stockagents-sft"):
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=_dataset(train_examples),
            eval_dataset=_dataset(validation_examples) if validate else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=extra,
        )
        from stockagents.llm.hf_backend import bfloat16_base

        if not cuda and bfloat16_base(trainer.model, config.model.base_weights):
            logger.info("training on bfloat16 base weights (model.base_weights: float32 to not)")
        if resume is not None:
            logger.info("resuming from %s", resume)
        with step_progress(trainer, f"sft {config.agent_name}"):
            output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        eval_loss = float(trainer.evaluate()["eval_loss"]) if validate else None
    seconds = time.perf_counter() - started
    return _Fit(
        trainer=trainer,
        tokenizer=tokenizer,
        train_examples=train_examples,
        validation_examples=validation_examples,
        cuda=cuda,
        resume=resume,
        training_loss=float(output.training_loss),
        eval_loss=eval_loss,
        seconds=seconds,
        tokens_per_second=trainer.train_tokens / timer.seconds if timer.seconds else 0.0,
    )


def _manifest(config: SFTConfig, fit: _Fit) -> ModelManifest:
    """The adapter's ``manifest.json`` (without its version, which hashes the weights)."""
    agent = config.agent_name
    state = fit.trainer.state
    data_path = config.data.dataset_path
    return ModelManifest(
        kind="lora",
        base_model=config.model.base_model,
        agent=agent,
        prompt_version=prompt_version(agent),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        data=TrainingData(
            path=str(data_path),
            sha256=file_sha256(data_path),
            validation_path=str(config.data.validation_path or "") or None,
            train_examples=len(fit.train_examples),
            validation_examples=len(fit.validation_examples),
        ),
        # validation examples pick the best checkpoint, so their dates count too
        trained_on=_trained_on([*fit.train_examples, *fit.validation_examples]),
        training=SFTTraining(
            config=config.model_dump(mode="json"),
            steps=state.global_step,
            train_loss=fit.training_loss,
            last_train_loss=_last(state.log_history, "loss"),
            eval_loss=fit.eval_loss,
            perplexity=fit.perplexity,
            best_checkpoint=state.best_model_checkpoint,
            resumed_from=str(fit.resume) if fit.resume else None,
            seconds=round(fit.seconds, 2),
            tokens_per_second=round(fit.tokens_per_second, 1),
            device="cuda" if fit.cuda else "cpu",
        ),
    )


def train_agent(config: SFTConfig, callbacks: Sequence[Any] = ()) -> SFTResult:
    """Train ``config.agent``'s LoRA adapter; returns where ``final/`` is and the figures.

    ``callbacks`` are extra ``transformers.TrainerCallback`` objects (a seam for tests and
    progress displays). Resumes from the latest complete checkpoint when
    ``training.resume_from_checkpoint`` is ``auto``.
    """
    require_packages(
        "torch", "transformers", "peft", "trl", "datasets",
        needed_by="SFT training", install=TORCH_INSTALL,
    )  # fmt: skip
    fit = _fit(config, callbacks)
    state = fit.trainer.state
    if fit.trainer.is_world_process_zero():  # data parallel: one process writes final/
        final, manifest = _write_final(
            fit.trainer, fit.tokenizer, config.output_dir, _manifest(config, fit)
        )
    fit.trainer.accelerator.wait_for_everyone()
    if not fit.trainer.is_world_process_zero():
        final = config.output_dir / "final"
        manifest = load_manifest(final / "manifest.json", ModelManifest, AgentError)
    logger.info(
        "%s: %d steps, eval_loss %s, final adapter in %s",
        config.agent_name,
        state.global_step,
        format_or_na(fit.eval_loss, ".4f"),
        final,
    )
    return SFTResult(
        final_dir=final,
        manifest=manifest,
        global_step=int(state.global_step),
        train_loss=fit.training_loss,
        eval_loss=fit.eval_loss,
        perplexity=fit.perplexity,
        resumed_from=fit.resume,
        seconds=fit.seconds,
        tokens_per_second=fit.tokens_per_second,
    )
