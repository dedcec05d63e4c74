"""Every command of the user's guide (``tests/fixtures/TRAINING_GUIDE.md``), run as
written, in a fresh working directory, with the tiny profile: the complete run and the
agent-by-agent steps, then (``TestInOrder``) the runs that build on one another, in the
guide's order. Under pytest-xdist the two parts run on two workers at once.

"The tiny profile" means: ``STOCKAGENTS_PROFILE=tiny`` (the run scripts' default
profile, whose sizes are ceilings) and the guide's YAML files with the tiny base model
and a few steps. No API key is set: ``--provider openai`` falls back to the expert
teacher, as documented. Commands that only set up a machine or start a viewer are
listed in ``NOT_RUN`` with the reason; ``test_every_guide_command_is_covered`` fails
when the guide has a command that is neither run here nor listed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[1]
GUIDE = Path(__file__).parent / "fixtures" / "TRAINING_GUIDE.md"
#: The user's own copy, when this checkout sits beside it: the fixture must match it.
SEED = REPO.parent / "shared" / "seed" / "TRAINING_GUIDE.md"

NOT_RUN = {
    "pip install -r requirements.txt": "the environment setup; CI installs requirements.txt",
    "pip install unsloth wandb": "unsloth needs CUDA; wandb is in requirements.txt",
    "wandb login": "needs a W&B account; runs log offline without WANDB_API_KEY",
    "wandb ui": "an interactive viewer",
    "tensorboard --logdir training_runs/": "a server; the event files are checked instead",
    "open evaluation_results/eval_*/comparison_plots.png": "opens an image viewer (macOS)",
    **dict.fromkeys(
        (
            "OPENAI_API_KEY=sk-...",
            "ANTHROPIC_API_KEY=sk-ant-...",
            "FINNHUB_API_KEY=your_key",
            "NEWSAPI_KEY=your_key",
            "SERPER_API_KEY=your_key",
            "WANDB_API_KEY=your_key",
        ),
        ".env lines: no key is set here, which is the point",
    ),
}

SFT_RUN = (
    "python scripts/run_sft_training.py --num-examples 100 --max-steps 500 "
    "--provider openai --model gpt-4o"
)
RL_RUN = (
    "python scripts/run_rl_training.py --num-trajectories 500 --num-iterations 100 "
    "--algorithm grpo --symbols AAPL MSFT GOOGL AMZN TSLA"
)
EVALUATE = (
    "python scripts/evaluate_models.py --models baseline:models/baseline "
    "sft:training_runs/sft_run_YYYYMMDD_HHMMSS/models "
    "rl:training_runs/rl_grpo_run_YYYYMMDD_HHMMSS/models "
    "--test-symbols AAPL MSFT GOOGL AMZN TSLA --test-days 90"
)
DEPLOY = (
    "python scripts/deploy_models.py --models "
    "news:training_runs/sft_run_YYYYMMDD_HHMMSS/models/news_agent/final "
    "technical:training_runs/sft_run_YYYYMMDD_HHMMSS/models/technical_agent/final "
    "fundamental:training_runs/sft_run_YYYYMMDD_HHMMSS/models/fundamental_agent/final "
    "strategist:training_runs/rl_grpo_run_YYYYMMDD_HHMMSS/models/final --min-sharpe 0.5"
)


def guide_commands(text: str) -> list[str]:
    """The commands of the guide's ``bash`` blocks (continuations joined, comments and
    blank lines dropped); a ``python -c "..."`` block is one command."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        if 'python -c "' in joined:
            commands.append(joined.split("\n", 1)[1].strip() if joined.startswith("#") else joined)
            continue
        for line in joined.splitlines():
            line = " ".join(line.split("#", 1)[0].split()) if not line.startswith("#") else ""
            if line:
                commands.append(line)
    return commands


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


class Workspace:
    """A fresh working directory, as a user's clone is after ``pip install``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("scripts", "training", "orchestration", "agents"):
            (root / name).symlink_to(REPO / name)
        shutil.copytree(REPO / "models" / "baseline", root / "models" / "baseline")
        shutil.copytree(REPO / "config", root / "config")
        for path in (root / "config" / "sft").glob("*.yaml"):
            tiny(path, {"model.base_model": "tiny", "model.lora_layers": None,
                        "model.max_seq_length": 512,
                        "training.max_steps": 6, "training.save_steps": 3,
                        "training.eval_steps": 3, "training.report_to": ["tensorboard"]})  # fmt: skip
        for path in (root / "config" / "rl").glob("*.yaml"):
            # the guide's --iterations 100 as written, each iteration small: 2 prompts
            # (GRPO: 2 completions each), 24 tokens, one PPO epoch
            tiny(path, {"model.base_model": "tiny", "training.report_to": ["tensorboard"],
                        "training.validation_examples": 8, "training.max_completion_length": 24,
                        "training.batch_size": 2, "training.group_size": 2,
                        "training.ppo_epochs": 1, "data.num_trajectories": 60})  # fmt: skip
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_API_KEY") and k != "STOCKAGENTS_MODELS_DIR"
        }
        self.env.update(STOCKAGENTS_PROFILE="tiny", WANDB_MODE="offline", NO_COLOR="1",
                        COLUMNS="200")  # fmt: skip

    def run(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``command`` as a shell runs it here, ``python`` being this interpreter (the
        shell ``exec``s it: a timeout then stops the command, not only its shell)."""
        shell = "exec " + re.sub(r"^python ", f"{sys.executable} ", command)
        done = subprocess.run(
            shell, shell=True, cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def newest(self, pattern: str) -> Path:
        found = sorted(self.root.glob(pattern))
        assert found, f"nothing matches {pattern}"
        return found[-1]

    def filled(self, command: str) -> str:
        """The guide's placeholders replaced by the runs made here."""
        sft = self.newest("training_runs/sft_run_*").name.removeprefix("sft_run_")
        rl = self.newest("training_runs/rl_grpo_run_*").name.removeprefix("rl_grpo_run_")
        command = command.replace("sft_run_YYYYMMDD_HHMMSS", f"sft_run_{sft}")
        return command.replace("rl_grpo_run_YYYYMMDD_HHMMSS", f"rl_grpo_run_{rl}")


def tiny(path: Path, changes: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        if key in data.get(section, {}) or value is not None:
            data.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def guide() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    if SEED.is_file():
        assert SEED.read_text(encoding="utf-8") == text, "the guide changed: update the fixture"
    return text


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("guide"))


def test_every_guide_command_is_covered(guide: str) -> None:
    run_here = {
        "python scripts/run_complete_training.py --sft-examples 100 --rl-trajectories 500 "
        "--rl-iterations 100 --algorithm grpo",
        SFT_RUN,
        "python scripts/generate_synthetic_data.py --agent-type news --num-examples 100 "
        "--output data/training/news_train.jsonl --provider openai --model gpt-4o",
        *(
            f"python training/sft/train_{a}_agent.py --config config/sft/{a}_agent.yaml"
            for a in ("news", "technical", "fundamental")
        ),
        RL_RUN,
        "python training/rl/backtester.py --symbols AAPL MSFT GOOGL AMZN TSLA "
        "--start-date 2023-01-01 --end-date 2023-12-31",
        "python training/rl/train_strategist_grpo.py --config config/rl/grpo_config.yaml "
        "--iterations 100",
        "python training/rl/train_strategist_ppo.py --config config/rl/ppo_config.yaml "
        "--iterations 100",
        EVALUATE,
        "cat evaluation_results/eval_*/evaluation_report.md",
        DEPLOY,
        "python scripts/convert_to_gguf.py --model-path models/production/news "
        "--output-path models/export/news.gguf",
        "python scripts/convert_to_onnx.py --model-path models/production/news "
        "--output-path models/export/news.onnx",
    }
    commands = guide_commands(guide)
    snippets = [c for c in commands if c.startswith("python -c")]
    plain = {" ".join(c.split()) for c in commands if not c.startswith("python -c")}
    assert plain == run_here | set(NOT_RUN)
    assert len(snippets) == 2  # verify and rollback, run below
    assert len(python_blocks(guide)) == 2  # saving (comments only) and loading, run below


# -- Quick start --------------------------------------------------------------------


def test_complete_pipeline(ws: Workspace, tmp_path: Path) -> None:
    # its own production, so that the deployment steps below start from none
    ws.env["STOCKAGENTS_MODELS_DIR"] = str(tmp_path / "models")
    try:
        done = ws.run(
            "python scripts/run_complete_training.py --sft-examples 100 --rl-trajectories 500 "
            "--rl-iterations 100 --algorithm grpo"
        )
    finally:
        del ws.env["STOCKAGENTS_MODELS_DIR"]
    assert "caps" in done.stdout + done.stderr  # the tiny profile's ceilings, said
    run = ws.newest("training_runs/complete_run_*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    assert "| deployment | done |" in (run / "summary.md").read_text()


# -- Step 1, agent by agent -----------------------------------------------------------


def test_data_then_each_agent(ws: Workspace) -> None:
    ws.run(
        "python scripts/generate_synthetic_data.py --agent-type news --num-examples 100 "
        "--output data/training/news_train.jsonl --provider openai --model gpt-4o"
    )
    assert len((ws.root / "data/training/news_train.jsonl").read_text().splitlines()) == 100
    for agent in ("technical", "fundamental"):  # "Repeat for technical and fundamental"
        ws.run(
            f"python scripts/generate_synthetic_data.py --agent-type {agent} --num-examples 100 "
            f"--output data/training/{agent}_train.jsonl --provider openai --model gpt-4o"
        )
    for agent in ("news", "technical", "fundamental"):
        ws.run(f"python training/sft/train_{agent}_agent.py --config config/sft/{agent}_agent.yaml")
        final = ws.root / "models" / agent / "sft" / "final"
        assert json.loads((final / "manifest.json").read_text())["agent"] == agent
        assert list((ws.root / "models" / agent / "sft" / "runs").rglob("events.out.tfevents*"))


class TestInOrder:
    """The guide's runs that build on one another, in its order: the SFT run, the RL run
    from it, the strategist, the evaluation of both, their deployment, the deployed
    models. One class: pytest-xdist (``--dist loadscope``) keeps them on one worker, in
    order, beside the complete run and the agent-by-agent steps above."""

    # -- Step 1 -----------------------------------------------------------------------

    def test_sft_run_without_a_key_falls_back_to_the_expert_teacher(self, ws: Workspace) -> None:
        done = ws.run(SFT_RUN)
        assert "OPENAI_API_KEY is not set" in done.stdout + done.stderr
        run = ws.newest("training_runs/sft_run_*")
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["teacher"] == "expert"
        assert manifest["teacher_fallbacks"]
        for agent in ("news", "technical", "fundamental", "strategist"):
            assert (run / "models" / f"{agent}_agent" / "final" / "adapter_config.json").is_file()

    # -- Step 2 -----------------------------------------------------------------------

    def test_rl_run(self, ws: Workspace) -> None:
        done = ws.run(RL_RUN)
        assert "skipping MSFT" in done.stdout + done.stderr
        run = ws.newest("training_runs/rl_grpo_run_*")
        assert (run / "experience_library.db").is_file()
        assert (run / "models" / "final" / "adapter_config.json").is_file()

    def test_collect_then_train_the_strategist(self, ws: Workspace) -> None:
        ws.run(
            "python training/rl/backtester.py --symbols AAPL MSFT GOOGL AMZN TSLA "
            "--start-date 2023-01-01 --end-date 2023-12-31"
        )
        for algorithm in ("grpo", "ppo"):
            done = ws.run(
                f"python training/rl/train_strategist_{algorithm}.py "
                f"--config config/rl/{algorithm}_config.yaml --iterations 100"
            )
            # the config's models/strategist/sft/final does not exist: the SFT run's is used
            assert "newest SFT run's strategist" in done.stdout + done.stderr
            assert "caps --iterations at 4 (asked 100)" in done.stdout + done.stderr
            final = ws.root / "models" / "strategist" / f"rl_{algorithm}" / "final"
            assert json.loads((final / "manifest.json").read_text())["agent"] == "strategist"

    # -- Step 3 -----------------------------------------------------------------------

    def test_evaluate_and_review(self, ws: Workspace) -> None:
        ws.run(ws.filled(EVALUATE))
        report = ws.run("cat evaluation_results/eval_*/evaluation_report.md").stdout
        assert "Sharpe" in report
        out = ws.newest("evaluation_results/eval_*")
        names = [
            s["name"] for s in json.loads((out / "evaluation_results.json").read_text())["sets"]
        ]
        assert names == ["baseline", "sft", "rl"]
        assert (out / "comparison_plots.png").stat().st_size > 10_000

    # -- Step 4 -----------------------------------------------------------------------

    def test_deploy_verify_rollback(self, ws: Workspace, guide: str) -> None:
        # As written, the gate refuses: this set (SFT analysts with the RL strategist) was
        # not the one evaluated. One line, production unchanged.
        refused = ws.run(ws.filled(DEPLOY), check=False)
        assert refused.returncode == 1
        errors = [line for line in refused.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1  # one line (transformers' loading bar may come before it)
        assert errors[0].startswith("error: refused: no evaluation of this model set")
        assert not (ws.root / "models" / "production").exists()
        for _ in range(2):  # deployed anyway twice: the second deployment backs up the first
            ws.run(ws.filled(DEPLOY) + " --force")
        verify, rollback = (c for c in guide_commands(guide) if c.startswith("python -c"))
        out = ws.run(verify.replace("python -c", f"{sys.executable} -c", 1)).stdout
        assert re.search(r"Recommendation: (BUY|SELL|HOLD)\nConfidence: \d\.\d\d", out)
        backup = ws.newest("models/backups/backup_*").name
        ws.run(rollback.replace("backup_YYYYMMDD_HHMMSS", backup).replace(
            "python -c", f"{sys.executable} -c", 1))  # fmt: skip
        records = sorted((ws.root / "models" / "records").glob("deployment_*.json"))
        assert json.loads(records[-1].read_text())["outcome"] == "rolled back"

    def test_load_for_inference_and_export(self, ws: Workspace, guide: str) -> None:
        load = python_blocks(guide)[1]
        script = ws.root / "load.py"
        script.write_text(load + "\nprint(result.signal.value, round(result.confidence, 2))\n")
        out = ws.run("python load.py").stdout
        assert re.search(r"(bullish|neutral|bearish) \d", out)
        ws.run(
            "python scripts/convert_to_gguf.py --model-path models/production/news "
            "--output-path models/export/news.gguf"
        )
        ws.run(
            "python scripts/convert_to_onnx.py --model-path models/production/news "
            "--output-path models/export/news.onnx"
        )
        assert (ws.root / "models/export/news.gguf").stat().st_size > 100_000
        assert (ws.root / "models/export/news.onnx").stat().st_size > 100_000
