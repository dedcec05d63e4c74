"""RL for the strategist: rewards, prompts from the experience library, GRPO, PPO, resume,
the guide's scripts and the run pipeline (tiny models)."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stockagents.core.errors import ConfigError, DataError
from stockagents.training.rl import rewards as rewards_module
from stockagents.training.rl.config import load_rl_config
from stockagents.training.rl.rewards import Desk, RewardWeights, score_completion, tied_share
from tests.helpers import train_tiny_sft

REPO = Path(__file__).resolve().parents[2]


def _answer(action: str, size: float = 0.25, confidence: float = 0.6, **extra: Any) -> str:
    data = {
        "reasoning": "r",
        "action": action,
        "position_size": size,
        "confidence": confidence,
        "stop_loss_pct": None,
        "take_profit_pct": None,
        "horizon_days": 5,
        **extra,
    }
    return json.dumps(data)


def _row(up: bool, atr: float = 0.02) -> dict[str, Any]:
    closes = [100 * (1.01 if up else 0.99) ** (i + 1) for i in range(20)]
    return {
        "close": 100.0,
        "opens": [100.0, *closes[:-1]],
        "highs": [c * 1.001 for c in closes],
        "lows": [c * 0.999 for c in closes],
        "closes": closes,
        "atr_pct": atr,
    }


def _score(text: str, row: dict[str, Any], desk: Desk | None = None) -> Any:
    return score_completion(text, **row, desk=desk or Desk(), weights=RewardWeights())


# --- rewards --------------------------------------------------------------------------


def test_reward_doctests_pass() -> None:
    result = doctest.testmod(
        rewards_module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted >= 15
    assert result.failed == 0


def test_rewards_follow_what_happened() -> None:
    up, down = _row(True), _row(False)
    assert _score(_answer("BUY"), up).total > _score(_answer("HOLD", 0.0), up).total
    assert _score(_answer("HOLD", 0.0), down).total > _score(_answer("BUY"), down).total
    # long-only: SELL is an exit, worth what staying out is worth
    assert _score(_answer("SELL", 0.0), down).ret == 0.0
    short = Desk(allow_short=True)
    assert _score(_answer("SELL"), down, short).ret > 0 > _score(_answer("SELL"), up, short).ret


def test_costs_are_charged_and_horizon_is_capped() -> None:
    flat = _row(True)
    flat.update(opens=[100.0] * 20, highs=[100.0] * 20, lows=[100.0] * 20, closes=[100.0] * 20)
    assert _score(_answer("BUY"), flat).realised == pytest.approx(-0.25 * Desk().cost)
    # a 20-day answer is scored over the desk's 5-day cap
    five = _score(_answer("BUY", horizon_days=5), _row(True)).realised
    assert _score(_answer("BUY", horizon_days=20), _row(True)).realised == pytest.approx(five)


def test_oversizing_is_penalised_in_volatile_names_only() -> None:
    calm, wild = _row(True, atr=0.01), _row(True, atr=0.06)
    assert _score(_answer("BUY", size=0.25), calm).oversize == 0.0
    assert _score(_answer("BUY", size=0.25), wild).oversize == pytest.approx(2.0)
    assert _score(_answer("BUY", size=1.0), wild).oversize > 2.0


def test_calibration_rewards_honest_confidence() -> None:
    down = _row(False)
    sure = _score(_answer("BUY", confidence=0.95), down).calibration
    unsure = _score(_answer("BUY", confidence=0.1), down).calibration
    assert unsure > sure


@pytest.mark.parametrize(
    "text",
    [
        "",
        "BUY",
        "Here you go: " + _answer("BUY"),
        _answer("BUY")[:-1],
        _answer("BUY", size=1.5),
        _answer("BUY").replace('"BUY"', '"STRONG BUY"'),
    ],
)
def test_invalid_output_scores_only_the_validity_penalty(text: str) -> None:
    scored = _score(text, _row(True))
    assert not scored.valid
    assert scored.total == -1.0
    assert scored.ret == scored.calibration == 0.0


def test_tied_groups_are_counted() -> None:
    assert tied_share([0.5] * 8, 4) == 1.0
    assert tied_share([0.5, 0.5, 0.5, 0.6], 2) == 0.5


# --- config ---------------------------------------------------------------------------

GUIDE_YAML = """\
# config/rl/custom_grpo.yaml
model:
  sft_checkpoint: "models/strategist/sft/final"
  lora_rank: 8
  lora_alpha: 16
  learning_rate: 1e-5

training:
  output_dir: "models/custom_strategist"
  num_iterations: 200
  batch_size: 16
  save_interval: 20
  kl_coef: 0.1
  vf_coef: 0.1
"""


def test_the_guides_rl_keys_load(tmp_path: Path) -> None:
    path = tmp_path / "custom_grpo.yaml"
    path.write_text(GUIDE_YAML, encoding="utf-8")
    config = load_rl_config(path, algorithm="grpo")
    assert config.model.lora_rank == 8
    assert config.model.learning_rate == 1e-5
    assert config.training.num_iterations == 200
    assert config.training.kl_coef == 0.1
    assert config.training.vf_coef == 0.1


def test_the_library_may_be_a_database_url(tmp_path: Path) -> None:
    url = "postgresql+psycopg://trainer@db-host:5432/stockagents"
    path = tmp_path / "grpo.yaml"
    path.write_text(f"data:\n  experience_library: {url}\n", encoding="utf-8")
    assert load_rl_config(path, "grpo").data.experience_library == url  # not folded to a path
    overridden = load_rl_config(path, "grpo", overrides={"data.experience_library": "lib.db"})
    assert overridden.data.experience_library == "lib.db"


@pytest.mark.postgres
def test_rl_examples_from_a_postgresql_library(library: Path, postgres_db: str) -> None:
    from stockagents.backtest.collect import collect_trajectories
    from stockagents.core.config import AppConfig
    from stockagents.training.rl.dataset import load_rl_examples

    collect_trajectories(
        ["AAPL"],
        None,
        None,
        library.parent / "pg",
        every=25,
        backend="serial",
        progress=False,
        library=postgres_db,
    )
    segments = ("train", "validation", "test")
    from_sql = load_rl_examples(postgres_db, AppConfig(), segments)
    from_file = load_rl_examples(library, AppConfig(), segments)
    for segment in segments:
        assert [e.record() for e in from_sql[segment]] == [e.record() for e in from_file[segment]]


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_shipped_rl_configs_load(algorithm: str) -> None:
    config = load_rl_config(REPO / "config" / "rl" / f"{algorithm}_config.yaml", algorithm)
    assert config.algorithm == algorithm
    assert config.rewards.weights().ret == 1.0


def test_the_tiny_profile_caps_a_configs_sizes(caplog: pytest.LogCaptureFixture) -> None:
    from stockagents.pipelines.rl import capped_to_profile

    config = load_rl_config(REPO / "config" / "rl" / "grpo_config.yaml", "grpo")
    with caplog.at_level("WARNING"):
        tiny = capped_to_profile(config, "tiny")
    assert (tiny.training.num_iterations, tiny.data.num_trajectories) == (4, 60)
    assert "caps --iterations at 4 (asked 100)" in caplog.text
    assert tiny.training.batch_size == config.training.batch_size  # ceilings only
    assert capped_to_profile(config, "cpu") == config
    with pytest.raises(ConfigError, match=r"--profile 'huge': use one of tiny, cpu, gpu"):
        capped_to_profile(config, "huge")


def test_rl_config_errors_are_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  num_iterations: -3\n  kl_coeff: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rl_config(path, "grpo")
    text = str(info.value)
    assert "training.num_iterations" in text
    assert "training.kl_coeff" in text
    path.write_text("algorithm: ppo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config/rl/grpo_config\.yaml"):
        load_rl_config(path, "grpo")


# --- prompts from the experience library ----------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from stockagents.backtest.collect import collect_trajectories

    out = tmp_path_factory.mktemp("rl-lib")
    collect_trajectories(
        ["AAPL"], None, None, out, every=25, backend="serial", progress=False
    )  # whole history: train, validation and test segments
    return out / "experience_library.db"


def test_examples_come_from_the_segments_with_future_bars_as_labels(library: Path) -> None:
    import pandas as pd

    from stockagents.core.config import AppConfig
    from stockagents.data.sample import SamplePriceProvider
    from stockagents.training.rl.dataset import load_rl_examples

    examples = load_rl_examples(library, AppConfig(), ("train", "validation", "test"))
    assert examples["train"]
    assert examples["validation"]
    bars = SamplePriceProvider().prices("AAPL", as_of=SamplePriceProvider().date_range("AAPL")[1])
    for example in examples["train"][:5] + examples["validation"][:2]:
        assert example.prompt[0]["role"] == "system"
        assert "strategist" in example.prompt[0]["content"]
        assert example.symbol in example.prompt[1]["content"]
        day = pd.Timestamp(example.as_of)
        after = bars[bars.index > day]
        assert example.opens[0] == pytest.approx(float(after["open"].iloc[0]))
        assert len(example.closes) == 20
        assert example.close == pytest.approx(float(bars.loc[:day, "close"].iloc[-1]))
    assert all(e.segment == "train" for e in examples["train"])
    last_train = max(e.as_of for e in examples["train"])
    assert last_train < min(e.as_of for e in examples["validation"])


def test_an_empty_library_is_a_clear_error(tmp_path: Path) -> None:
    from stockagents.backtest.experience import ExperienceLibrary
    from stockagents.core.config import AppConfig
    from stockagents.training.rl.dataset import load_rl_examples

    ExperienceLibrary(tmp_path / "empty.db").close()
    with pytest.raises(DataError, match="no steps"):
        load_rl_examples(tmp_path / "empty.db", AppConfig())


def test_collected_expert_answers_score_as_valid(library: Path) -> None:
    from stockagents.core.config import AppConfig
    from stockagents.training.rl.dataset import load_rl_examples
    from stockagents.training.rl.scoring import RewardModel, desk_from, validation_reward

    examples = load_rl_examples(library, AppConfig(), ("validation",))["validation"]
    reward = RewardModel(desk_from(AppConfig()), RewardWeights())
    summary = validation_reward(None, examples, reward, AppConfig())
    assert summary["valid_rate"] == 1.0
    assert summary["n"] == len(examples)


def test_validation_gains_pair_the_prompts() -> None:
    from stockagents.pipelines.rl import validation_gains

    # 10 days x 2 symbols; RL beats its start by exactly 0.1 on every prompt: the paired
    # interval is that point, however noisy the rewards themselves are.
    examples = [
        SimpleNamespace(as_of=f"2023-01-{day:02d}", symbol=symbol)
        for day in range(1, 11)
        for symbol in ("AAPL", "AMZN")
    ]
    noisy = [(-1) ** i * 0.5 + i / 40 for i in range(20)]
    rewards = {
        "expert": {"totals": [0.0] * 20},
        "sft start": {"totals": noisy},
        "rl (grpo)": {"totals": [r + 0.1 for r in noisy]},
    }
    gains = validation_gains(rewards, examples)  # type: ignore[arg-type]
    gain = gains["rl (grpo) - sft start"]
    assert gain["difference"] == pytest.approx(0.1)
    assert gain["low"] == pytest.approx(0.1)
    assert gain["high"] == pytest.approx(0.1)
    assert gain["prompts"] == 20
    start = gains["sft start - expert"]
    assert start["difference"] == pytest.approx(sum(noisy) / 20)
    assert start["low"] < start["difference"] < start["high"]  # a real spread this time


# --- GRPO and PPO on a learnable task ---------------------------------------------------

VOWELS = "aeiou"


def vowel_share(texts: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[float]:
    """A learnable task: the share of a completion's characters that are vowels."""
    return [sum(c in VOWELS for c in t) / max(1, len(t)) for t in texts]


@pytest.fixture(scope="module")
def sharp_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny preset with its (tied) embeddings scaled up: its logits then vary enough for
    sampling to explore and for a LoRA to move them (the preset's are nearly uniform)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stockagents.llm.presets import resolve_model

    path = resolve_model("tiny")
    model = AutoModelForCausalLM.from_pretrained(path)
    embeddings: Any = model.get_input_embeddings()
    with torch.no_grad():
        embeddings.weight.mul_(8.0)
    out = tmp_path_factory.mktemp("sharp-tiny")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out


def toy_config(base: Path, out: Path, algorithm: str, **training: Any) -> Any:
    settings: dict[str, Any] = {
        "output_dir": str(out),
        "num_iterations": 30,
        "batch_size": 4 if algorithm == "grpo" else 16,
        "group_size": 4,
        "save_interval": 10,
        "max_completion_length": 8,
        "report_to": ["tensorboard"],
        "kl_coef": 0.0,
    }
    settings.update(training)
    return load_rl_config(
        {
            "model": {
                "sft_checkpoint": None,
                "base_model": str(base),
                "lora_rank": 8,
                "lora_alpha": 16,
                "lora_layers": None,
                "target_modules": ["q_proj", "v_proj", "o_proj", "down_proj"],
                "learning_rate": 1e-2,
            },
            "training": settings,
        },
        algorithm=algorithm,
    )


PROMPTS = [{"prompt": [{"role": "user", "content": f"Write something {i}"}]} for i in range(16)]


def _lora(final: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(final / "adapter_model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_rl_raises_the_reward_and_changes_the_weights(
    algorithm: str, sharp_tiny: Path, tmp_path: Path
) -> None:
    import torch

    from stockagents.agents.runtime import read_manifest
    from stockagents.core.manifests import RLTraining
    from stockagents.training.rl.grpo import train_grpo
    from stockagents.training.rl.ppo import train_ppo

    torch.manual_seed(0)
    config = toy_config(sharp_tiny, tmp_path / algorithm, algorithm)
    if algorithm == "grpo":
        result = train_grpo(config, PROMPTS, vowel_share)
    else:
        result = train_ppo(config, PROMPTS, vowel_share, progress=False)
    rewards = [h["reward"] for h in result.history]
    assert len(rewards) == 30
    first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
    assert last > first + 0.08, f"{algorithm}: mean reward {first:.3f} -> {last:.3f}"
    weights = _lora(result.final_dir)
    assert any("lora_B" in k and float(v.abs().max()) > 0 for k, v in weights.items())
    assert not any(".ref." in k for k in weights)  # only the trained adapter is saved
    manifest = read_manifest(result.final_dir)
    assert manifest is not None
    assert manifest.kind == "lora"
    assert manifest.agent == "strategist"
    assert isinstance(manifest.training, RLTraining)
    assert manifest.training.algorithm == result.training.algorithm == algorithm
    assert (manifest.version or "").startswith(f"rl-{algorithm}-strategist-")
    assert (result.final_dir.parent / "reward_curve.png").stat().st_size > 1000
    assert list((result.final_dir.parent / "runs").rglob("events.out.tfevents.*"))


class Killed(Exception):
    pass


def _killing(after: int) -> Any:
    calls = {"n": 0}

    def reward(texts: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[float]:
        calls["n"] += 1
        if calls["n"] > after:
            raise Killed
        return vowel_share(texts, rows)

    return reward


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_a_killed_run_resumes_from_its_checkpoint(
    algorithm: str, sharp_tiny: Path, tmp_path: Path
) -> None:
    from stockagents.training.rl.grpo import train_grpo
    from stockagents.training.rl.ppo import train_ppo
    from stockagents.training.sft.trainer import latest_checkpoint

    out = tmp_path / algorithm
    config = toy_config(sharp_tiny, out, algorithm, num_iterations=8, save_interval=3)

    def run(reward: Any) -> Any:
        if algorithm == "grpo":
            return train_grpo(config, PROMPTS, reward)
        return train_ppo(config, PROMPTS, reward, progress=False)

    with pytest.raises(Killed):
        run(_killing(after=7))  # dies in iteration 8, after checkpoint-6
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None
    assert checkpoint.name == "checkpoint-6"
    assert not (out / "final").exists()
    result = run(vowel_share)
    assert result.resumed_from == checkpoint
    assert result.iterations == 8
    steps = [int(h["step"]) for h in result.history if "reward" in h]
    assert steps[-2:] == [7, 8]


def test_gae_matches_a_hand_computation() -> None:
    import torch

    from stockagents.training.rl.ppo import gae

    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.4, 0.2, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    adv, ret = gae(rewards, values, mask, lam=0.5)
    d2 = 1.0 - 0.2
    d1 = 0.0 + 0.2 - 0.4
    d0 = 0.0 + 0.4 - 0.5
    a2, a1 = d2, d1 + 0.5 * d2
    a0 = d0 + 0.5 * a1
    assert adv[0].tolist() == pytest.approx([a0, a1, a2, 0.0], abs=1e-6)
    assert ret[0, :3].tolist() == pytest.approx([a0 + 0.5, a1 + 0.4, a2 + 0.2], abs=1e-6)


# --- scripts and the pipeline -----------------------------------------------------------


def test_training_script_without_an_sft_checkpoint_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "grpo.yaml"
    config.write_text(
        f"model:\n  sft_checkpoint: {tmp_path / 'missing'}\n"
        f"training:\n  output_dir: {tmp_path / 'out'}\n"
        f"data:\n  experience_library: {tmp_path / 'none.db'}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "training/rl/train_strategist_grpo.py"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "train the strategist first" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def tiny_strategist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny strategist adapter from a short SFT run (the RL warm start)."""
    root = tmp_path_factory.mktemp("tiny-strategist")
    return train_tiny_sft(root, "strategist", 48, 20, rank=8, learning_rate=1e-2)


@pytest.mark.slow
def test_the_rl_pipeline_writes_a_run_a_model_set_and_a_report(
    tiny_strategist: Path, tmp_path: Path
) -> None:
    from stockagents.core.config import load_config
    from stockagents.orchestration import SystemCoordinator
    from stockagents.pipelines.rl import run_rl_training

    short = load_config({"splits": {"validation_days": 12, "test_days": 30}})
    run = run_rl_training(
        config=short,
        algorithm="ppo",
        num_trajectories=30,
        num_iterations=2,
        symbols=["AAPL", "ZZZZ"],
        sft_checkpoint=tiny_strategist,
        profile="tiny",
        output_root=tmp_path,
        progress=False,
    )
    assert run.name.startswith("rl_ppo_run_")
    assert (run / "experience_library.db").is_file()
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    rewards = report["validation_reward"]
    assert set(rewards) == {"expert", "sft start", "rl (ppo)"}
    assert rewards["expert"]["valid_rate"] == 1.0
    assert all(r["n"] == 8 for r in rewards.values())  # the tiny profile's validation prompts
    assert all(len(r["totals"]) == 8 for r in rewards.values())
    gains = report["validation_gain"]
    assert set(gains) == {"rl (ppo) - sft start", "sft start - expert"}
    gain = gains["rl (ppo) - sft start"]
    assert gain["prompts"] == 8
    assert gain["difference"] == pytest.approx(
        rewards["rl (ppo)"]["reward"] - rewards["sft start"]["reward"]
    )
    assert "Paired, prompt by prompt" in (run / "report.md").read_text(encoding="utf-8")
    metrics = report["validation_backtest"]["metrics"]
    assert set(metrics) == {"expert strategist", "sft start", "rl strategist", "buy & hold"}
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["symbols"] == ["AAPL"]
    assert manifest["iterations"] == 2
    assert (run / "validation_backtest.png").is_file()
    assert (run / "report.md").is_file()
    final = json.loads((run / "models" / "final" / "manifest.json").read_text(encoding="utf-8"))
    train_days = [json.loads(line)["as_of"] for line in (run / "data" / "rl_train.jsonl").open()]
    assert final["trained_on"]["end"] >= max(train_days)  # its prompts and its SFT start's
    assert final["trained_on"]["end"] <= manifest["splits"]["train"]["end"]
    with SystemCoordinator(models=run / "models") as coordinator:
        assert coordinator.strategist.version.startswith("rl-ppo-strategist-")
        assert coordinator.analysts["technical"].runtime is None  # the expert analysts


def test_shared_prefix_gives_the_same_logps_and_gradients(sharp_tiny: Path) -> None:
    import torch

    from stockagents.training.rl import rollout
    from stockagents.training.rl.policy import load_policy

    config = toy_config(sharp_tiny, Path("unused"), "ppo")
    policy = load_policy(config)
    system = "You are the senior strategist of a trading desk. " * 4
    prompts = [
        [{"role": "system", "content": system}, {"role": "user", "content": "AAPL " * (i + 1)}]
        for i in range(3)
    ]
    prompt_ids, completions = rollout.sample_completions(
        policy.model, policy.tokenizer, prompts, temperature=1.0, max_new_tokens=6, seed=1
    )
    assert rollout.shared_prefix(prompt_ids) >= rollout.MIN_SHARED
    pad = int(policy.tokenizer.pad_token_id)
    width, keep = max(map(len, prompt_ids)), max(map(len, completions))
    seq = torch.tensor(
        [[pad] * (width - len(p)) + p + c + [pad] * (keep - len(c))
         for p, c in zip(prompt_ids, completions, strict=True)]
    )  # fmt: skip
    attn = torch.tensor(
        [[0] * (width - len(p)) + [1] * (len(p) + len(c)) + [0] * (keep - len(c))
         for p, c in zip(prompt_ids, completions, strict=True)]
    )  # fmt: skip
    mask = attn[:, width:].float()

    def run(share: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        policy.model.zero_grad()
        old = rollout.MIN_SHARED
        rollout.MIN_SHARED = old if share else 10**9
        try:
            logps, _, _ = rollout.completion_logps(policy.model, seq, attn, keep)
        finally:
            rollout.MIN_SHARED = old
        (logps * mask).sum().backward()
        grads = [p.grad.clone() for p in policy.model.parameters() if p.requires_grad]
        return logps.detach() * mask, grads

    shared, shared_grads = run(True)
    plain, plain_grads = run(False)
    assert torch.allclose(shared, plain, atol=1e-4)
    for a, b in zip(shared_grads, plain_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


@pytest.mark.slow
def test_the_guides_training_script_trains_from_a_library(
    library: Path, tiny_strategist: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ppo.yaml"
    config.write_text(
        f"model:\n  sft_checkpoint: {tiny_strategist}\n  learning_rate: 1.0e-3\n"
        f"training:\n  output_dir: {tmp_path / 'out'}\n  batch_size: 4\n"
        "  max_completion_length: 24\n  validation_examples: 4\n  report_to: []\n"
        f"data:\n  experience_library: {library}\n",
        encoding="utf-8",
    )
    script = REPO / "training/rl/train_strategist_ppo.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--config", str(config), "--iterations", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "rl_summary.json").read_text(encoding="utf-8"))
    assert summary["iterations"] == 2
    assert {"before", "after", "expert"} <= set(summary)
    assert 1 <= summary["after"]["n"] <= 4  # the fixture's library has few validation steps
    assert summary["after"]["n"] == summary["before"]["n"] == summary["validation_examples"]
    assert (tmp_path / "out" / "final" / "adapter_model.safetensors").is_file()


def test_tied_groups_leave_the_loss() -> None:
    import torch

    from stockagents.training.rl.grpo import mask_tied_groups

    advantages = torch.tensor([0.0, 0.0, 0.5, -0.5, 0.0, 0.0])
    mask = torch.ones(6, 3)
    out, tied = mask_tied_groups(advantages, mask, group=2)
    assert tied == 2
    assert out.sum(dim=1).tolist() == [0.0, 0.0, 3.0, 3.0, 0.0, 0.0]
    same, none = mask_tied_groups(torch.zeros(4), torch.ones(4, 3), group=2)
    assert none == 0
    assert same.sum() == 12  # every group tied: nothing to mask against
