"""Typed manifests: each kind round-trips, legacy files read as version 1, and a newer
version, a missing field or a wrong type is one clear error naming file, field and fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockagents.core.errors import AgentError, ConfigError, DeploymentError
from stockagents.core.manifests import (
    AgentChoice,
    BacktestRunManifest,
    CollectionCounts,
    CompleteRunManifest,
    DataFile,
    DeploymentRecord,
    EvaluationData,
    EvaluationManifest,
    ExportCheck,
    ExportSource,
    GgufManifest,
    Manifest,
    ModelManifest,
    ModelSetManifest,
    OnnxManifest,
    ReleaseManifest,
    RLRunManifest,
    RLTraining,
    SFTDataManifest,
    SFTRunManifest,
    SFTTraining,
    StageRecord,
    TrainedOn,
    TrainingData,
    TrajectoriesManifest,
    find_manifest,
    load_manifest,
    write_manifest,
)
from stockagents.core.registry import release_manifest

_CHECK = ExportCheck(
    prompt_tokens=12, max_logit_difference=1e-6, greedy_tokens=8, greedy_identical=True
)
_SOURCE = ExportSource(model_path="m", base_model="tiny", adapter=None, hash="abc")

#: One complete example of every kind, as its writer makes it.
EXAMPLES: list[Manifest] = [
    ModelManifest(
        kind="lora",
        base_model="tiny",
        agent="news",
        prompt_version="p1",
        created="2026-01-02T03:04:05+00:00",
        data=TrainingData(path="d.jsonl", sha256="f" * 64, train_examples=3),
        trained_on=TrainedOn(start="2020-01-02", end="2020-06-30", examples=3),
        training=SFTTraining(steps=4, eval_loss=None, device="cpu"),
        version="sft-news-12345678",
    ),
    ModelManifest(
        kind="lora",
        base_model="tiny",
        agent="strategist",
        trained_on=None,
        training=RLTraining(algorithm="grpo", iterations=2, first_reward=0.1, last_reward=0.2),
        version="rl-grpo-strategist-1",
    ),
    ModelManifest(kind="openai", model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1"),
    ModelSetManifest(agents={"news": "news/final", "strategist": "expert"}, run="sft_run_1"),
    ReleaseManifest(
        deployment="deployment_20260101_000000",
        agents={"news": "news", "strategist": "expert"},
        hashes={"news": "0123456789abcdef", "strategist": "expert"},
        versions={"news": "v1", "strategist": "expert"},
        sources={"news": "/models/news", "strategist": "expert"},
    ),
    DeploymentRecord(
        id="deployment_20260101_000000",
        action="deploy",
        created="2026-01-01T00:00:00+00:00",
        models_dir="models",
        forced=False,
        pid=1,
        outcome="deployed",
        steps={"backup": 0.0, "stage": 0.5},
        agents={"news": AgentChoice(source="/m", origin="given", hash="h", version="v1")},
        backup=None,
        swapped=True,
    ),
    SFTDataManifest(
        agent="news",
        created="c",
        teacher="expert",
        files={"news_train.jsonl": DataFile(sha256="a" * 64, examples=60)},
        oversample=3.0,
    ),
    SFTRunManifest(
        run="sft_run_1",
        created="c",
        profile="tiny",
        base_model="tiny",
        teacher="expert",
        num_examples=24,
        max_steps={"news": 6},
        agents=["news"],
        status="done",
        seconds=12.5,
    ),
    RLRunManifest(
        run="rl_grpo_run_1",
        algorithm="grpo",
        profile="tiny",
        created="c",
        symbols=["AAPL"],
        sft_checkpoint="ckpt",
        analysts="expert",
        train_examples=4,
        validation_examples=2,
        iterations=2,
        train_reward_first=None,
        models="models",
        final="models/final",
        status="done",
    ),
    CompleteRunManifest(
        run="complete_run_1",
        created="c",
        options={"profile": "tiny", "symbols": ["AAPL"]},
        config={},
        stages={"data": StageRecord(status="done", seconds=1.0), "sft": StageRecord()},
    ),
    TrajectoriesManifest(
        run_id="r",
        stockagents_version="0.1",
        created_at="c",
        symbols=["AAPL"],
        config_sha256="c" * 64,
        data_sha256="d" * 64,
        backend="serial",
        config={},
        data={"source": "sample", "sha256": "d" * 64},
        database="experience_library.db",
        status="complete",
        counts=CollectionCounts(steps=3, actions={"HOLD": 3}),
    ),
    BacktestRunManifest(
        stockagents_version="0.1",
        created_at="c",
        symbols=["AAPL"],
        period="2023-01-03 to 2023-06-30",
        models="expert",
        model_versions={"news": "expert-3"},
        config={},
        data={"source": "sample", "sha256": "d"},
        metrics={"with_costs": {"sharpe": 0.5}},
    ),
    EvaluationManifest(
        code="abc",
        config={},
        data=EvaluationData(source="sample", sha256="d", first_bar="a", last_bar="b"),
        models={"baseline": {"set": {}}},
        command={"models": ["expert"]},
    ),
    OnnxManifest(
        created="c",
        source=_SOURCE,
        file="m.onnx",
        bytes=10,
        inputs=["input_ids"],
        outputs=["logits"],
        opset=17,
        check=_CHECK,
        seconds=1.0,
    ),
    GgufManifest(
        created="c", source=_SOURCE, file="m.gguf", outtype="f16", bytes=10, check=_CHECK, seconds=1
    ),
]


@pytest.mark.parametrize("manifest", [pytest.param(m, id=type(m).__name__) for m in EXAMPLES])
def test_every_kind_round_trips(tmp_path: Path, manifest: Manifest) -> None:
    path = write_manifest(tmp_path / "manifest.json", manifest)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["schema_version"] == 1
    kind = getattr(manifest, "kind", None)
    if kind is not None:
        assert written["kind"] == kind
    again = load_manifest(path, type(manifest), ConfigError)
    assert again == manifest
    assert again.as_json() == written


def test_only_what_the_writer_set_is_written(tmp_path: Path) -> None:
    manifest = ModelManifest(kind="lora", base_model="tiny", trained_on=None)
    written = json.loads(write_manifest(tmp_path / "m.json", manifest).read_text())
    assert written == {
        "schema_version": 1,
        "kind": "lora",
        "base_model": "tiny",
        "trained_on": None,
    }
    stage = CompleteRunManifest(
        run="r", created="c", options={}, config={}, stages={"a": StageRecord()}
    )
    assert stage.as_json()["stages"]["a"] == {
        "status": "pending", "seconds": 0.0, "outputs": {}, "error": None,
    }  # fmt: skip


def test_a_file_without_a_version_is_version_1_and_keeps_its_extras(tmp_path: Path) -> None:
    file = tmp_path / "manifest.json"
    legacy = {"kind": "lora", "base_model": "tiny", "written_by": "an older stockagents"}
    file.write_text(json.dumps(legacy))
    manifest = load_manifest(file, ModelManifest, AgentError)
    assert manifest.schema_version == 1
    assert manifest.base_model == "tiny"
    assert manifest.as_json() == {"schema_version": 1, **legacy}
    write_manifest(file, manifest)
    assert json.loads(file.read_text())["written_by"] == "an older stockagents"


def test_a_newer_version_is_one_line_naming_file_field_and_fix(tmp_path: Path) -> None:
    file = tmp_path / "news" / "manifest.json"
    file.parent.mkdir()
    file.write_text(json.dumps({"schema_version": 2, "kind": "adapter-v2", "base": 5}))
    with pytest.raises(AgentError) as caught:
        load_manifest(file, ModelManifest, AgentError)
    message = str(caught.value)
    assert len(message.splitlines()) == 1  # the newer format's other fields are not listed
    assert message.startswith(f"{file}: schema_version: version 2 is newer")
    assert "upgrade stockagents" in message


@pytest.mark.parametrize(
    ("model", "data", "needles"),
    [
        pytest.param(
            DeploymentRecord,
            {"id": "d", "action": "deploy", "created": "c"},
            ("outcome: required, but missing", "remove the file"),
            id="missing-field",
        ),
        pytest.param(
            SFTRunManifest,
            {"run": "r"},
            ("profile: required, but missing", "start a new run"),
            id="missing-fields",
        ),
        pytest.param(
            ModelSetManifest,
            {"agents": ["news"]},
            ("agents: Input should be a valid dictionary (got ['news'])", '{"agents"'),
            id="wrong-type",
        ),
        pytest.param(
            ModelManifest,
            {"kind": "gguf"},
            ("kind: unknown kind 'gguf'; use lora, full, openai, anthropic or expert",),
            id="unknown-kind",
        ),
        pytest.param(
            ModelManifest,
            {"kind": "anthropic"},
            ("kind anthropic needs a 'model'",),
            id="api-without-model",
        ),
        pytest.param(
            ModelManifest,
            {"trained_on": {"start": "2020-01-02", "examples": "many"}},
            ("trained_on.examples: Input should be a valid integer", "re-train the model"),
            id="nested-wrong-type",
        ),
        pytest.param(
            ModelManifest,
            {"schema_version": "one"},
            ("schema_version: Input should be",),
            id="version-not-a-number",
        ),
    ],
)
def test_a_bad_field_names_file_field_and_fix(
    tmp_path: Path, model: type[Manifest], data: dict[str, Any], needles: tuple[str, ...]
) -> None:
    file = tmp_path / "manifest.json"
    file.write_text(json.dumps(data))
    with pytest.raises(DeploymentError) as caught:
        load_manifest(file, model, DeploymentError)
    message = str(caught.value)
    assert all(line.startswith(f"{file}: ") for line in message.splitlines())
    for needle in needles:
        assert needle in message


def test_unreadable_files_are_the_callers_error(tmp_path: Path) -> None:
    file = tmp_path / "manifest.json"
    assert find_manifest(file, ModelManifest, AgentError) is None
    with pytest.raises(AgentError, match="model manifest file not found; re-save or re-train"):
        load_manifest(file, ModelManifest, AgentError)
    file.write_text("{oops")
    with pytest.raises(AgentError, match=r"manifest\.json: not valid JSON"):
        find_manifest(file, ModelManifest, AgentError)
    file.write_text("[1, 2]")
    with pytest.raises(AgentError, match="expected a JSON object"):
        find_manifest(file, ModelManifest, AgentError)


def test_training_records_are_told_apart_by_what_they_say() -> None:
    rl = ModelManifest.model_validate({"training": {"sft_checkpoint": "ckpt"}})
    assert isinstance(rl.training, RLTraining)
    assert rl.training.sft_checkpoint == "ckpt"
    sft = ModelManifest.model_validate({"training": {"steps": 3, "eval_loss": 0.5}})
    assert isinstance(sft.training, SFTTraining)
    assert sft.training.steps == 3


def test_legacy_sft_runs_record_one_step_count() -> None:
    run = SFTRunManifest.model_validate(
        {"kind": "sft-run", "run": "r", "created": "c", "profile": "tiny", "base_model": "tiny",
         "teacher": "expert", "num_examples": 4, "max_steps": 6, "status": "done"}
    )  # fmt: skip
    assert run.max_steps == 6


def test_release_manifests_are_read_typed(tmp_path: Path) -> None:
    assert release_manifest(tmp_path) is None  # no manifest: not a release
    (tmp_path / "manifest.json").write_text(json.dumps({"agents": {"news": "news"}}))
    assert release_manifest(tmp_path) is None  # a model set, not a release
    (tmp_path / "manifest.json").write_text(
        json.dumps({"kind": "production", "agents": {"strategist": "strategist"}})
    )  # hand-made: no hashes, no deployment
    release = release_manifest(tmp_path)
    assert release is not None
    assert release.agents == {"strategist": "strategist"}
    assert release.deployment is None
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "production", "hashes": []}))
    with pytest.raises(AgentError, match=r"manifest\.json: hashes: Input should be"):
        release_manifest(tmp_path)
