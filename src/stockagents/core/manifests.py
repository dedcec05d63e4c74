"""The manifests the project writes beside its artifacts: one pydantic model per kind, and
the one way to read and write them.

This module owns the on-disk shape of every manifest; the modules that make an artifact
fill one in, and every reader gets it back typed. It knows nothing about training,
deploying or evaluating, and it does not pick the exception a reader raises: the caller
passes its branch of the tree (``AgentError`` for a model, ``DeploymentError`` for a
deployment, ...). The kinds, and who writes them::

    ModelManifest         <model>/manifest.json             SFT and RL trainers; by hand for
                                                            full, openai, anthropic, expert
    ModelSetManifest      <set>/manifest.json               runs, deployment candidates
    ReleaseManifest       models/releases/*/manifest.json   deployment (``core.registry``)
    DeploymentRecord      models/records/deployment_*.json  deployment
    SFTDataManifest       data/<agent>_train.manifest.json  synthetic data
    SFTRunManifest, RLRunManifest, CompleteRunManifest      training_runs/*/manifest.json
    TrajectoriesManifest  <collection>/manifest.json        trajectory collection
    BacktestRunManifest   backtest_results/*/manifest.json  ``stockagents backtest``
    EvaluationManifest    the ``manifest`` of evaluation_results.json
    OnnxManifest, GgufManifest  <file>.onnx.json, <file>.gguf.json   export

Versions: every manifest has ``schema_version``. A file without it was written before the
field existed and reads as version 1; a version newer than a kind's ``SCHEMA_VERSION``,
a missing required field or a wrong type is one error naming the file, the field and
the fix. Fields a kind does not know are kept (``extra="allow"``), so what an older or
newer writer added survives a read and a rewrite.

Writing: ``write_manifest(path, manifest)`` writes atomically (``core.jsonio``) the
fields the writer set, with the kind and the current ``schema_version``; a field left at
its default is left out, as it was before the models existed (a record part such as
``StageRecord`` is always written whole).
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from stockagents.core.config import LONGEST_LABEL_HORIZON
from stockagents.core.errors import StockAgentsError
from stockagents.core.jsonio import write_json
from stockagents.core.textfile import parse_json, read_text

__all__ = [
    "AgentChoice",
    "AnyManifest",
    "BacktestRunManifest",
    "CollectionCounts",
    "CompleteRunManifest",
    "DataFile",
    "DeploymentRecord",
    "EvaluationData",
    "EvaluationManifest",
    "ExportCheck",
    "ExportManifest",
    "ExportSource",
    "GgufManifest",
    "Manifest",
    "ModelManifest",
    "ModelSetManifest",
    "OnnxManifest",
    "RLRunManifest",
    "RLTraining",
    "ReleaseManifest",
    "SFTDataManifest",
    "SFTRunManifest",
    "SFTTraining",
    "StageRecord",
    "TrainedOn",
    "TrainingData",
    "TrajectoriesManifest",
    "find_manifest",
    "load_manifest",
    "parse_manifest",
    "write_manifest",
]

M = TypeVar("M", bound="Manifest")

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring = 2, 4, 4, 60


class _Part(BaseModel):
    """A part of a manifest. ``WHOLE`` parts are written with their defaults; the others
    (like manifests) with the fields that were set."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    WHOLE: ClassVar[bool] = False

    def model_post_init(self, context: Any, /) -> None:
        if self.WHOLE:
            self.__pydantic_fields_set__.update(type(self).model_fields)


class Manifest(_Part):
    """What every manifest has: a schema version (a file without one is version 1)."""

    #: The newest version of this kind this code reads; it writes this one.
    SCHEMA_VERSION: ClassVar[int] = 1
    #: What the file is called in messages, and what fixes a bad one.
    LABEL: ClassVar[str] = "manifest"
    FIX: ClassVar[str] = "re-create it with this version of stockagents"

    schema_version: int = Field(
        default=1, ge=1, description="the manifest format's version (no field: version 1)"
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > cls.SCHEMA_VERSION:
            raise ValueError(
                f"version {value} is newer than this stockagents reads ({cls.SCHEMA_VERSION}); "
                "upgrade stockagents, or re-create the file with this version"
            )
        return value

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        kind = getattr(self, "kind", None)
        self.__pydantic_fields_set__.update({"schema_version", *(["kind"] if kind else [])})

    def as_json(self, exclude: set[str] | None = None) -> dict[str, Any]:
        """The manifest as written: the fields set, the kind, the current version."""
        data = self.model_dump(mode="json", exclude_unset=True, exclude=exclude)
        data["schema_version"] = type(self).SCHEMA_VERSION
        return data

    def is_empty(self) -> bool:
        """Whether the file said nothing (``{}``)."""
        return not (self.model_fields_set - {"schema_version"}) and not self.model_extra


def _problems(error: ValidationError, origin: str | Path, fix: str) -> str:
    """One line per problem, ``origin: field: what is wrong; the fix``; a version problem
    alone (the rest of a newer file's fields would only be noise)."""
    items = error.errors()
    version = [i for i in items if tuple(i["loc"][:1]) == ("schema_version",)]
    lines = []
    for item in version or items:
        field = ".".join(str(p) for p in item["loc"])
        where = f"{field}: " if field else ""
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            lines.append(f"{origin}: {where}required, but missing; {fix}")
        elif item["type"] == "value_error":  # our own checks: the message says the fix
            lines.append(f"{origin}: {where}{message}")
        else:
            got = _REPR.repr(item.get("input"))
            lines.append(f"{origin}: {where}{message} (got {got}); {fix}")
    return "\n".join(lines)


def parse_manifest(
    data: Any, model: type[M], origin: str | Path, error: type[StockAgentsError]
) -> M:
    """``data`` (parsed JSON) as a ``model``, or ``error`` naming ``origin``."""
    if not isinstance(data, dict):
        raise error(f"{origin}: expected a JSON object; {model.FIX}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(_problems(exc, origin, model.FIX)) from None


def load_manifest(path: Path, model: type[M], error: type[StockAgentsError]) -> M:
    """The ``model`` in the file ``path``; any problem (missing, not UTF-8, not JSON, a bad
    field) is one ``error`` naming the file."""
    text = read_text(path, model.LABEL, model.FIX, error)
    return parse_manifest(parse_json(text, str(path), error), model, path, error)


def find_manifest(path: Path, model: type[M], error: type[StockAgentsError]) -> M | None:
    """Like ``load_manifest``, but None when there is no such file."""
    return load_manifest(path, model, error) if path.is_file() else None


def write_manifest(path: Path, manifest: Manifest) -> Path:
    """Write ``manifest`` to ``path`` atomically (``Manifest.as_json``)."""
    return write_json(path, manifest.as_json())


class AnyManifest(Manifest):
    """A manifest read only for its kind: which kind a file is, before reading it as one."""

    kind: str | None = None


# -- models ------------------------------------------------------------------------------

ModelKind = Literal["lora", "full", "openai", "anthropic", "expert"]
MODEL_KINDS: tuple[str, ...] = ("lora", "full", "openai", "anthropic", "expert")


class TrainedOn(_Part):
    """The ``as_of`` window of a model's training examples (``core.provenance``)."""

    start: str | None = Field(default=None, description="the first as_of date (YYYY-MM-DD)")
    end: str | None = Field(default=None, description="the last as_of date (YYYY-MM-DD)")
    examples: int = 0
    label_horizon_days: int = LONGEST_LABEL_HORIZON


class TrainingData(_Part):
    """The file an SFT adapter trained on."""

    path: str | None = None
    sha256: str | None = None
    validation_path: str | None = None
    train_examples: int | None = None
    validation_examples: int | None = None


class SFTTraining(_Part):
    """How an SFT adapter was trained."""

    config: dict[str, Any] | None = None
    steps: int | None = None
    train_loss: float | None = None
    last_train_loss: float | None = None
    eval_loss: float | None = None
    perplexity: float | None = None
    best_checkpoint: str | None = None
    resumed_from: str | None = None
    seconds: float | None = None
    tokens_per_second: float | None = None
    device: str | None = None


class RLTraining(_Part):
    """How an RL adapter was trained (rewards are means of the first and last tenth)."""

    algorithm: str | None = None
    start: str | None = Field(default=None, description="the SFT start's version")
    sft_checkpoint: str | None = None
    config: dict[str, Any] | None = None
    iterations: int | None = None
    seconds: float | None = None
    seconds_per_iteration: float | None = None
    resumed_from: str | None = None
    first_reward: float | None = None
    last_reward: float | None = None
    tied_groups: float | None = None


_RL_KEYS = frozenset(("algorithm", "sft_checkpoint", "iterations", "first_reward"))


def _training_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "rl" if _RL_KEYS & value.keys() else "sft"
    return "rl" if isinstance(value, RLTraining) else "sft"


Training = Annotated[
    Annotated[SFTTraining, Tag("sft")] | Annotated[RLTraining, Tag("rl")],
    Discriminator(_training_kind),
]


class ModelManifest(Manifest):
    """A model directory's ``manifest.json``: what it is and what made it."""

    LABEL: ClassVar[str] = "model manifest"
    FIX: ClassVar[str] = "re-save or re-train the model"

    kind: ModelKind | None = Field(
        default=None,
        description="lora (a peft adapter on base_model), full, openai, anthropic or expert; "
        "none: lora with an adapter_config.json beside it, else full with a config.json",
    )
    base_model: str | None = None
    agent: str | None = None
    prompt_version: str | None = None
    created: str | None = None
    data: TrainingData | None = None
    trained_on: TrainedOn | None = None
    training: Training | None = None
    version: str | None = None
    model: str | None = Field(default=None, description="the API model (openai, anthropic)")
    base_url: str | None = Field(default=None, description="another OpenAI-compatible server")

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        if value is not None and value not in MODEL_KINDS:
            raise ValueError(f"unknown kind {value!r}; use lora, full, openai, anthropic or expert")
        return value

    @model_validator(mode="after")
    def _api_names_model(self) -> ModelManifest:
        if self.kind in ("openai", "anthropic") and not self.model:
            raise ValueError(
                f"kind {self.kind} needs a 'model' (the API model's name, as in "
                f'"model": "gpt-4o-mini"); add it'
            )
        return self


class ModelSetManifest(Manifest):
    """A model set's ``manifest.json``: agents -> model (a path inside the set, a preset,
    an ``openai:``/``anthropic:`` model, a Hugging Face id or ``expert``)."""

    LABEL: ClassVar[str] = "model set manifest"
    FIX: ClassVar[str] = 'fix it as in {"agents": {"news": "news/final"}}, or remove it'

    kind: str | None = Field(
        default=None, description="baseline (every agent expert), production, or none"
    )
    agents: dict[str, str | None] = Field(
        default_factory=dict, description="an object: agent name -> model"
    )
    run: str | None = None


class ReleaseManifest(Manifest):
    """A production release's ``manifest.json`` (see ``core.registry``); also a model set."""

    LABEL: ClassVar[str] = "release manifest"
    FIX: ClassVar[str] = "restore the release from a backup, or deploy again"

    kind: Literal["production"] = "production"
    deployment: str | None = Field(default=None, description="the run that installed it")
    agents: dict[str, str | None] = Field(default_factory=dict)
    hashes: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)


class AgentChoice(_Part):
    """One agent of a deployment: where its model came from."""

    source: str
    origin: str
    hash: str
    version: str


class DeploymentRecord(Manifest):
    """One deployment or rollback run (``models/records``), filled in as it goes."""

    LABEL: ClassVar[str] = "deployment record"
    FIX: ClassVar[str] = "remove the file (it only records a past run)"

    kind: Literal["deployment"] = "deployment"
    id: str
    action: Literal["deploy", "rollback"]
    created: str
    models_dir: str | None = None
    forced: bool = False
    pid: int | None = None
    outcome: Literal["started", "deployed", "rolled back", "refused", "failed", "interrupted"]
    steps: dict[str, float] = Field(default_factory=dict)
    rollback_to: str | None = None
    agents: dict[str, AgentChoice] = Field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    criteria: dict[str, Any] | None = None
    forced_because: str | None = None
    backup: str | None = None
    verification: dict[str, Any] | None = None
    swapped: bool = False
    replaced: str | None = None
    release: str | None = None
    error: str | None = None
    production: str | None = None


# -- data and runs -------------------------------------------------------------------------


class DataFile(_Part):
    sha256: str
    examples: int


class SFTDataManifest(Manifest):
    """``<agent>_train.manifest.json``: who wrote an SFT data file, and how."""

    LABEL: ClassVar[str] = "data manifest"
    FIX: ClassVar[str] = "generate the data again"

    kind: Literal["sft-data"] = "sft-data"
    agent: str
    created: str
    teacher: str
    teacher_fallbacks: list[str] = Field(default_factory=list)
    seed: int | None = None
    prompt_version: str | None = None
    files: dict[str, DataFile] = Field(default_factory=dict)
    splits: dict[str, Any] | None = None
    prices: str | None = None
    oversample: float | None = None
    headlines: dict[str, Any] | None = None


class SFTRunManifest(Manifest):
    """An SFT run's ``manifest.json``."""

    LABEL: ClassVar[str] = "SFT run manifest"
    FIX: ClassVar[str] = "start a new run"

    kind: Literal["sft-run"] = "sft-run"
    run: str
    created: str
    profile: str
    base_model: str
    teacher: str
    teacher_fallbacks: list[str] = Field(default_factory=list)
    num_examples: int
    max_steps: dict[str, int] | int | None = Field(
        default=None, description="per agent (a number: every agent, as older runs wrote)"
    )
    seed: int | None = None
    agents: list[str] = Field(default_factory=list)
    status: Literal["running", "done"]
    seconds: float | None = None


class RLRunManifest(Manifest):
    """An RL run's ``manifest.json`` (also the ``manifest`` of its report.json)."""

    LABEL: ClassVar[str] = "RL run manifest"
    FIX: ClassVar[str] = "start a new run"

    kind: Literal["rl-run"] = "rl-run"
    run: str
    algorithm: str
    profile: str
    created: str
    symbols: list[str]
    sft_checkpoint: str
    analysts: str
    collected: dict[str, Any] = Field(default_factory=dict)
    splits: dict[str, Any] | None = None
    train_examples: int
    validation_examples: int
    iterations: int
    learning_rate: float | None = None
    seconds_per_iteration: float | None = None
    train_reward_first: float | None = None
    train_reward_last: float | None = None
    tied_groups: float | None = None
    training_seconds: float | None = None
    seconds: float | None = None
    models: str
    final: str
    status: str


class StageRecord(_Part):
    """One stage of a complete run: status, seconds, outputs (paths relative to the run)."""

    WHOLE: ClassVar[bool] = True

    status: Literal["pending", "running", "done", "failed"] = "pending"
    seconds: float = 0.0
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class CompleteRunManifest(Manifest):
    """A complete run's ``manifest.json``: its options, config and stages."""

    LABEL: ClassVar[str] = "complete run manifest"
    FIX: ClassVar[str] = "start a new run"

    kind: Literal["complete-run"] = "complete-run"
    run: str
    created: str
    options: dict[str, Any]
    config: dict[str, Any]
    stages: dict[str, StageRecord] = Field(default_factory=dict)


class CollectionCounts(_Part):
    steps: int
    by_symbol: dict[str, int] = Field(default_factory=dict)
    actions: dict[str, int] = Field(default_factory=dict)
    by_segment: dict[str, int] = Field(default_factory=dict)


class TrajectoriesManifest(Manifest):
    """A trajectory collection's ``manifest.json`` (the experience library beside it)."""

    LABEL: ClassVar[str] = "collection manifest"
    FIX: ClassVar[str] = "collect again into a new --output"

    kind: Literal["trajectories"] = "trajectories"
    run_id: str
    stockagents_version: str
    created_at: str
    symbols: list[str]
    start: str | None = None
    end: str | None = None
    every: int = 1
    max_days: int | None = None
    config_sha256: str
    data_sha256: str
    model_versions: dict[str, str] = Field(default_factory=dict)
    models: str | None = None
    skipped: dict[str, str] = Field(default_factory=dict)
    backend: str
    config: dict[str, Any]
    data: dict[str, Any]
    splits: dict[str, Any] | None = None
    database: str
    status: str | None = None
    updated_at: str | None = None
    counts: CollectionCounts | None = None


class BacktestRunManifest(Manifest):
    """``stockagents backtest``'s ``manifest.json``."""

    LABEL: ClassVar[str] = "backtest manifest"
    FIX: ClassVar[str] = "run the backtest again"

    kind: Literal["backtest"] = "backtest"
    stockagents_version: str
    created_at: str
    symbols: list[str]
    period: str
    models: str
    model_versions: dict[str, str]
    config: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any]


class EvaluationData(_Part):
    source: str
    sha256: str
    first_bar: str
    last_bar: str


class EvaluationManifest(Manifest):
    """What an evaluation ran: the code, the config, the data and the models' manifests."""

    LABEL: ClassVar[str] = "evaluation manifest"
    FIX: ClassVar[str] = "evaluate the models again"

    code: str = Field(description="the fingerprint of the agents' code")
    config: dict[str, Any]
    data: EvaluationData | None = None
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    command: dict[str, Any] = Field(default_factory=dict)


# -- export ---------------------------------------------------------------------------------


class ExportSource(_Part):
    model_path: str
    base_model: str
    adapter: str | None = None
    hash: str


class ExportCheck(_Part):
    """How the exported file was checked against the model it came from."""

    prompt_tokens: int
    max_logit_difference: float
    greedy_tokens: int
    greedy_identical: bool
    tolerance: float | None = None
    loaded_by: str | None = None
    tokenizer_identical: bool | None = None
    #: quantized files: the share of positions (the prompt and the model's greedy answer,
    #: read by both) where the file's top token is the model's, and the largest shortfall
    #: of a differing pick in the model's logits, in units of their spread there
    top1_agreement: float | None = None
    worst_tie: float | None = None


class ExportManifest(Manifest):
    """What both exporters write beside the file (``<file>.json``)."""

    LABEL: ClassVar[str] = "export manifest"
    FIX: ClassVar[str] = "export the model again"

    kind: Literal["onnx", "gguf"]
    created: str
    source: ExportSource
    file: str
    bytes: int
    check: ExportCheck
    seconds: float


class OnnxManifest(ExportManifest):
    kind: Literal["onnx"] = "onnx"
    inputs: list[str]
    outputs: list[str]
    opset: int


class GgufManifest(ExportManifest):
    kind: Literal["gguf"] = "gguf"
    outtype: str
