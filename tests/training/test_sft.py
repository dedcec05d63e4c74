"""SFT end to end on the tiny preset: config, the JSONL contract, masking, learning, resume."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from stockagents.core.errors import ConfigError, DataError, DataFormatError
from stockagents.training.sft import (
    latest_checkpoint,
    load_sft_config,
    read_sft_jsonl,
    split_validation,
    train_agent,
)

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You rate stocks. Answer with one JSON object."

GUIDE_YAML = """\
# config/sft/custom_agent.yaml
model:
  base_model: "unsloth/llama-3.1-8b-bnb-4bit"
  max_seq_length: 2048
  lora_rank: 16
  lora_alpha: 32
  lora_dropout: 0.05

training:
  output_dir: "models/custom_agent"
  batch_size: 4
  gradient_accumulation_steps: 4
  max_steps: 1000
  learning_rate: 2e-4
  warmup_steps: 100
  save_steps: 100

data:
  dataset_path: "data/training/custom_train.jsonl"
"""


def _answer(label: str) -> str:
    score = 0.5 if label == "bullish" else -0.5
    return json.dumps({"signal": label, "score": score, "confidence": 0.7, "reasoning": "trend"})


def _record(symbol: str, up: bool) -> dict[str, Any]:
    label = "bullish" if up else "bearish"
    return {
        "prompt": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{symbol} is {'up' if up else 'down'}"},
        ],
        "completion": [{"role": "assistant", "content": _answer(label)}],
        "agent": "technical",
        "symbol": symbol,
        "as_of": "2021-03-04",
        "teacher": "expert",
        "label": label,
    }


def write_mapping_data(path: Path, count: int = 64, seed: int = 0) -> Path:
    """A learnable mapping: 'X is up' -> bullish JSON, 'X is down' -> bearish JSON."""
    rng = random.Random(seed)
    symbols = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META"]
    lines = [json.dumps(_record(rng.choice(symbols), rng.random() < 0.5)) for _ in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(data: Path, out: Path, **training: Any) -> Any:
    settings: dict[str, Any] = {
        "output_dir": str(out),
        "batch_size": 8,
        "max_steps": 10,
        "learning_rate": 1e-2,
        "warmup_steps": 0,
        "save_steps": 10,
        "logging_steps": 5,
        "report_to": ["tensorboard"],
        "validation_fraction": 0.0,
    }
    settings.update(training)
    return load_sft_config(
        {
            "model": {"base_model": "tiny", "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0},
            "training": settings,
            "data": {"dataset_path": str(data)},
        },
        agent="technical",
    )


# --- config ---------------------------------------------------------------------------


def test_the_guides_yaml_keys_load(tmp_path: Path) -> None:
    file = tmp_path / "custom_agent.yaml"
    file.write_text(GUIDE_YAML, encoding="utf-8")
    config = load_sft_config(file, agent="news")
    assert config.agent == "news"
    assert config.model.base_model == "unsloth/llama-3.1-8b-bnb-4bit"
    assert config.model.max_seq_length == 2048
    assert (config.model.lora_rank, config.model.lora_alpha) == (16, 32)
    assert config.training.learning_rate == pytest.approx(2e-4)  # YAML reads 2e-4 as text
    assert config.training.batch_size == 4
    assert config.training.gradient_accumulation_steps == 4
    assert (config.training.max_steps, config.training.warmup_steps) == (1000, 100)
    assert config.eval_steps == 100  # defaults to save_steps
    assert config.output_dir == Path("models/custom_agent")
    assert config.data.dataset_path == Path("data/training/custom_train.jsonl")
    # CPU-safe defaults
    assert not config.training.bf16
    assert not config.training.fp16
    assert not config.model.gradient_checkpointing
    assert "gate_proj" in config.model.target_modules
    assert "q_proj" in config.model.target_modules
    assert config.training.report_to == ["tensorboard", "wandb"]
    assert config.training.resume_from_checkpoint == "auto"


@pytest.mark.parametrize("agent", ["news", "technical", "fundamental", "strategist"])
def test_shipped_configs_load(agent: str) -> None:
    config = load_sft_config(REPO / "config" / "sft" / f"{agent}_agent.yaml", agent=agent)
    assert config.model.base_model == "smollm2-135m"
    assert config.data.dataset_path == Path(f"data/training/{agent}_train.jsonl")
    assert config.output_dir == Path("models") / agent / "sft"
    assert not config.training.bf16
    assert not config.model.gradient_checkpointing


def test_strategist_sft_output_is_where_rl_looks() -> None:
    config = load_sft_config(REPO / "config" / "sft" / "strategist_agent.yaml", agent="strategist")
    assert config.output_dir / "final" == Path("models/strategist/sft/final")


def test_overrides_apply_and_are_validated(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(GUIDE_YAML, encoding="utf-8")
    config = load_sft_config(
        file, agent="news", overrides={"training.max_steps": 7, "model.base_model": "tiny"}
    )
    assert (config.training.max_steps, config.model.base_model) == (7, "tiny")
    with pytest.raises(ConfigError, match=r"training\.max_steps"):
        load_sft_config(file, agent="news", overrides={"training.max_steps": 0})


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ("training:\n  max_stepz: 10\n", r"a\.yaml: training\.max_stepz: .*remove it or check"),
        ("training:\n  learning_rate: fast\n", r"a\.yaml: training\.learning_rate: .*'fast'"),
        ("model:\n  lora_dropout: 1.5\n", r"a\.yaml: model\.lora_dropout: .*1\.5.*\[0, 1\)"),
        ("training:\n  bf16: true\n  fp16: true\n", r"a\.yaml: training: .*at most one"),
        ("training:\n  save_steps: 50\n  eval_steps: 20\n", r"multiple of eval_steps \(20\)"),
        ("training:\n  report_to: [mlflow]\n", r"training\.report_to\.0: .*'mlflow'"),
    ],
)
def test_config_errors_are_one_clear_line(tmp_path: Path, section: str, needle: str) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(f"data:\n  dataset_path: x.jsonl\n{section}", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_sft_config(file, agent="news")
    message = str(info.value)
    assert "\n" not in message
    assert info.match(needle)


def test_missing_dataset_path_and_agent_mismatch(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    file.write_text("agent: news\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data: Field required"):
        load_sft_config(file)
    with pytest.raises(ConfigError, match="the file is for 'news' but this run trains 'technical'"):
        load_sft_config(file, agent="technical")


# --- data -----------------------------------------------------------------------------

BAD_LINES = [
    ('{"prompt": [}', r"line 3: not valid JSON \(Expecting value"),
    ("[1, 2]", "line 3: expected a JSON object, got list"),
    ('{"prompt": [{"role": "user", "content": "hi"}]}', "line 3: missing 'completion'"),
    ('{"completion": []}', "line 3: missing 'prompt'"),
    (
        '{"prompt": [{"role": "assistant", "content": "hi"}], '
        '"completion": [{"role": "assistant", "content": "x"}]}',
        r"line 3: prompt\[0\] has role 'assistant'; expected system or user",
    ),
    (
        '{"prompt": [{"role": "user", "content": "hi"}], '
        '"completion": [{"role": "user", "content": "x"}]}',
        r"line 3: completion\[0\] has role 'user'; expected assistant",
    ),
    (
        '{"prompt": [{"role": "user", "content": "hi"}], '
        '"completion": [{"role": "assistant", "content": ""}]}',
        r"line 3: completion\[0\] \(assistant\) needs a non-empty string content",
    ),
    (
        '{"prompt": [{"role": "user", "content": "hi"}], "completion": "x"}',
        "line 3: 'completion' must be a non-empty list of messages",
    ),
]


@pytest.mark.parametrize(("line", "needle"), BAD_LINES)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    good = json.dumps(_record("AAPL", True))
    file = tmp_path / "x.jsonl"
    file.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")  # line 2 is blank
    with pytest.raises(DataFormatError) as info:
        read_sft_jsonl(file)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{file} line 3: ")
    assert info.match(needle)


def test_missing_and_empty_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: training data not found"):
        read_sft_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no examples"):
        read_sft_jsonl(tmp_path / "empty.jsonl")


def test_reader_keeps_the_contract_and_the_split_is_deterministic(tmp_path: Path) -> None:
    file = write_mapping_data(tmp_path / "d.jsonl", count=50)
    examples = read_sft_jsonl(file, agent="technical")
    assert len(examples) == 50
    assert set(examples[0].as_record()) == {"prompt", "completion"}
    assert examples[0].meta["teacher"] == "expert"
    train, validation = split_validation(examples, 0.1, seed=3)
    assert (len(train), len(validation)) == (45, 5)
    again = split_validation(examples, 0.1, seed=3)
    assert again == (train, validation)
    assert split_validation(examples, 0.1, seed=4)[1] != validation
    assert split_validation(examples[:1], 0.5, seed=3) == (examples[:1], [])


# --- training -------------------------------------------------------------------------


def _greedy_labels(backend: Any, adapter: str | None, records: list[dict[str, Any]]) -> int:
    from stockagents.llm.base import GenerationRequest, Sampling

    requests = [GenerationRequest(messages=r["prompt"], adapter=adapter) for r in records]
    outputs = backend.generate(requests, Sampling(max_new_tokens=40, temperature=0.0))
    correct = 0
    for record, text in zip(records, outputs, strict=True):
        other = "bearish" if record["label"] == "bullish" else "bullish"
        correct += record["label"] in text and other not in text
    return correct


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real run: 120 steps on the learnable mapping, with validation and early stopping."""
    import torch
    from transformers import TrainerCallback

    root = tmp_path_factory.mktemp("sft")
    data = write_mapping_data(root / "technical_train.jsonl", count=80)
    config = tiny_config(
        data,
        root / "out",
        max_steps=120,
        save_steps=20,
        eval_steps=20,
        validation_fraction=0.2,
        early_stopping_patience=3,
    )
    seen: dict[str, Any] = {"logs": []}

    class Spy(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            model = kw["model"]
            seen["init"] = {
                n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
            }
            seen["batch"] = next(iter(kw["train_dataloader"]))

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            seen["logs"].append(dict(logs or {}))

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            model = kw["model"]
            seen["end"] = {
                n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
            }

    torch.manual_seed(0)
    result = train_agent(config, callbacks=[Spy()])
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    return {"result": result, "seen": seen, "records": records, "config": config}


def test_only_completion_tokens_carry_loss(trained: dict[str, Any]) -> None:
    from transformers import AutoTokenizer

    from stockagents.llm.presets import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    batch = trained["seen"]["batch"]
    completions = {_answer(label) for label in ("bullish", "bearish")}
    for ids, labels, mask in zip(
        batch["input_ids"].tolist(),
        batch["labels"].tolist(),
        batch["attention_mask"].tolist(),
        strict=True,
    ):
        real = [i for i, m in zip(ids, mask, strict=True) if m]
        trained_ids = [label for label in labels if label != -100]
        prompt_len = labels.index(trained_ids[0])
        assert all(label == -100 for label in labels[:prompt_len])
        prompt_text = tokenizer.decode(real[:prompt_len])
        assert prompt_text.startswith("<|im_start|>system\n" + SYSTEM)
        assert prompt_text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        target = tokenizer.decode(trained_ids)
        assert target.removesuffix("\n").removesuffix("<|im_end|>") in completions
        assert "<|im_end|>" in target  # the model learns to stop


def test_training_changes_the_adapter_and_lowers_the_loss(trained: dict[str, Any]) -> None:
    import torch

    seen, result = trained["seen"], trained["result"]
    init, end = seen["init"], seen["end"]
    assert init
    assert set(init) == set(end)
    assert all("lora_" in name for name in init)
    changed = [name for name in init if not torch.equal(init[name], end[name])]
    assert len(changed) == len(init)
    assert all(end[n].abs().sum() > 0 for n in end if "lora_B" in n)  # B starts at zero
    losses = [log["loss"] for log in seen["logs"] if "loss" in log]
    evals = [log["eval_loss"] for log in seen["logs"] if "eval_loss" in log]
    assert losses[-1] < losses[0]
    assert len(evals) >= 2
    assert min(evals) < evals[0]
    assert result.eval_loss is not None
    assert result.eval_loss < evals[0]
    assert any("eval_perplexity" in log for log in seen["logs"])
    assert result.perplexity == pytest.approx(torch.tensor(result.eval_loss).exp().item())
    assert result.tokens_per_second > 0


def test_final_dir_manifest_and_checkpoints(trained: dict[str, Any]) -> None:
    from stockagents.agents.prompting import prompt_version
    from stockagents.training.sft.data import file_sha256

    result, config = trained["result"], trained["config"]
    final = result.final_dir
    assert final == config.output_dir / "final"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json"):
        assert (final / name).is_file()
    manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "lora"
    assert manifest["base_model"] == "tiny"
    assert manifest["agent"] == "technical"
    assert manifest["version"].startswith("sft-technical-")
    assert len(manifest["version"]) == 22
    assert manifest["prompt_version"] == prompt_version("technical")
    assert manifest["data"]["sha256"] == file_sha256(config.data.dataset_path)
    assert (manifest["data"]["train_examples"], manifest["data"]["validation_examples"]) == (64, 16)
    # the dates it trained on (and selected its checkpoint on), which evaluation checks
    assert manifest["trained_on"] == {
        "start": "2021-03-04", "end": "2021-03-04", "examples": 80, "label_horizon_days": 20,
    }  # fmt: skip
    training = manifest["training"]
    assert training["steps"] == result.global_step
    assert training["config"]["training"]["max_steps"] == 120
    assert training["perplexity"] == pytest.approx(result.perplexity)
    for key in ("train_loss", "eval_loss", "seconds", "tokens_per_second"):
        assert training[key] is not None
    checkpoints = sorted(p.name for p in config.output_dir.glob("checkpoint-*"))
    assert checkpoints
    assert all(name.split("-")[1].isdigit() for name in checkpoints)
    assert list((config.output_dir / "runs").rglob("events.out.tfevents.*"))  # TensorBoard
    assert not (config.output_dir / ".final-tmp").exists()


def test_final_dir_loads_as_the_agents_runtime(trained: dict[str, Any]) -> None:
    from stockagents.agents.runtime import load_runtime

    runtime = load_runtime("technical", trained["result"].final_dir)
    assert runtime is not None
    assert runtime.adapter is not None
    assert runtime.version.startswith(trained["result"].manifest.version)
    assert runtime.adapter in runtime.backend.adapters  # type: ignore[attr-defined]


def test_greedy_answers_improve(trained: dict[str, Any]) -> None:
    from stockagents.llm.hf_backend import HFBackend

    records = trained["records"][:16]
    backend = HFBackend("tiny", quantize="none")
    before = _greedy_labels(backend, None, records)
    backend.add_adapter("sft", trained["result"].final_dir)
    after = _greedy_labels(backend, "sft", records)
    assert after > before
    assert after >= 12, f"{after}/16 correct after training"


# --- resume ---------------------------------------------------------------------------


class Killed(Exception):
    pass


def test_resume_continues_and_a_killed_run_loses_nothing(tmp_path: Path) -> None:
    from transformers import TrainerCallback

    data = write_mapping_data(tmp_path / "d.jsonl", count=32)
    out = tmp_path / "out"
    first = train_agent(tiny_config(data, out, max_steps=6, save_steps=3))
    assert first.global_step == 6
    assert first.resumed_from is None
    assert latest_checkpoint(out) == out / "checkpoint-6"
    first_manifest = (first.final_dir / "manifest.json").read_text(encoding="utf-8")

    class KillAt(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 8:
                raise Killed

    with pytest.raises(Killed):
        train_agent(tiny_config(data, out, max_steps=12, save_steps=3), callbacks=[KillAt()])
    # What was written before the kill is intact: the checkpoints and the previous final/.
    assert latest_checkpoint(out) == out / "checkpoint-6"
    assert (first.final_dir / "manifest.json").read_text(encoding="utf-8") == first_manifest
    # A checkpoint cut short while being written is not resumed from.
    (out / "checkpoint-99").mkdir()
    (out / "checkpoint-99" / "adapter_config.json").write_text("{}", encoding="utf-8")
    assert latest_checkpoint(out) == out / "checkpoint-6"

    steps: list[int] = []

    class Steps(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            steps.append(state.global_step)

    resumed = train_agent(tiny_config(data, out, max_steps=12, save_steps=3), callbacks=[Steps()])
    assert resumed.resumed_from == out / "checkpoint-6"
    assert steps == [7, 8, 9, 10, 11, 12]  # global_step continues from the checkpoint
    assert resumed.global_step == 12
    manifest = json.loads((resumed.final_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["steps"] == 12
    assert manifest["training"]["resumed_from"] == str(out / "checkpoint-6")

    fresh = train_agent(
        tiny_config(data, tmp_path / "out2", max_steps=2, resume_from_checkpoint=None)
    )
    assert fresh.resumed_from is None
    assert fresh.global_step == 2


def test_explicit_resume_path_must_be_a_checkpoint(tmp_path: Path) -> None:
    data = write_mapping_data(tmp_path / "d.jsonl", count=8)
    config = tiny_config(data, tmp_path / "out", resume_from_checkpoint=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a complete checkpoint"):
        train_agent(config)


# --- command line ---------------------------------------------------------------------


def test_cli_trains_with_overrides(tmp_path: Path) -> None:
    from stockagents.cli.sft import main

    data = write_mapping_data(tmp_path / "news.jsonl", count=16)
    file = tmp_path / "news_agent.yaml"
    file.write_text(GUIDE_YAML.replace("lora_rank: 16", "lora_rank: 4"), encoding="utf-8")
    code = main(
        [
            "--config", str(file), "--max-steps", "2", "--base-model", "tiny",
            "--dataset-path", str(data), "--output-dir", str(tmp_path / "out"),
        ],
        agent="news",
    )  # fmt: skip
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "final" / "manifest.json").read_text("utf-8"))
    assert manifest["agent"] == "news"
    assert manifest["training"]["steps"] == 2
    assert manifest["base_model"] == "tiny"


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stockagents.cli.sft import main

    file = tmp_path / "bad.yaml"
    file.write_text("data:\n  dataset_path: x.jsonl\ntraining:\n  max_steps: -1\n", "utf-8")
    assert main(["--config", str(file)], agent="news") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {file}: training.max_steps: ")
    file.write_text(f"data:\n  dataset_path: {tmp_path / 'missing.jsonl'}\n", "utf-8")
    assert main(["--config", str(file)], agent="news") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "training data not found" in err[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_record("A", True)) + "\n{oops\n", "utf-8")
    file.write_text(f"data:\n  dataset_path: {bad}\n", "utf-8")
    assert main(["--config", str(file)], agent="news") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {bad} line 2: not valid JSON")


def test_wandb_runs_offline_under_the_output_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    data = write_mapping_data(tmp_path / "d.jsonl", count=16)
    out = tmp_path / "out"
    train_agent(tiny_config(data, out, max_steps=2, report_to=["tensorboard", "wandb"]))
    assert list((out / "wandb").glob("offline-run-*"))
    assert "WANDB_MODE" not in os.environ  # restored


def test_shared_prefix_gives_the_same_loss_and_gradients(trained: dict[str, Any]) -> None:
    """The system prompt every row shares runs once; loss and LoRA gradients match running
    each row whole."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stockagents.llm.presets import resolve_model
    from stockagents.training.sft.trainer import _completion_hidden, shared_prefix_length

    batch = trained["seen"]["batch"]
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    shared = shared_prefix_length(ids, mask, labels)
    assert shared >= len(SYSTEM) // 4  # the system prompt at least
    assert (ids[:, :shared] == ids[:1, :shared]).all()
    assert shared_prefix_length(ids[:1], mask[:1], labels[:1]) == 0  # one row: nothing to share

    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    model = PeftModel.from_pretrained(base, str(trained["result"].final_dir), is_trainable=True)
    model.train()
    backbone = model.get_base_model().model
    head = model.get_base_model().get_output_embeddings()

    def loss_and_grads(share: bool) -> tuple[float, dict[str, Any]]:
        model.zero_grad()
        torch.manual_seed(0)
        features = {"input_ids": ids, "attention_mask": mask}
        if share:
            hidden, targets = _completion_hidden(backbone, features, labels)
        else:
            hidden = backbone(**features, use_cache=False).last_hidden_state[:, :-1]
            targets = labels[:, 1:]
        keep = targets != -100
        loss = torch.nn.functional.cross_entropy(head(hidden[keep]), targets[keep])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return float(loss.detach()), grads

    for module in model.modules():  # dropout would differ between the two passes
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    whole, whole_grads = loss_and_grads(share=False)
    shared_loss, shared_grads = loss_and_grads(share=True)
    assert shared_loss == pytest.approx(whole, rel=1e-5)
    assert whole_grads.keys() == shared_grads.keys()
    assert whole_grads
    for name, grad in whole_grads.items():
        assert torch.allclose(grad, shared_grads[name], rtol=1e-3, atol=1e-6), name
