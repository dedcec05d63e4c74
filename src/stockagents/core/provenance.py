"""Which dates a trained model has seen: the ``trained_on`` entry of a model manifest.

A trainer writes ``"trained_on": {"start", "end", "examples", "label_horizon_days"}``
into the manifest of every adapter it saves: the first and last ``as_of`` date of its
training examples, and how many trading days after ``end`` its labels or rewards looked
(so prices up to about ``end + label_horizon_days`` shaped the weights). A model trained
from another (RL from an SFT start) carries the union of both windows.

``training_window(model_dir)`` reads it back, and for manifests written before the entry
existed falls back to the dates of the training file the manifest names
(``data.path``) and to the SFT start an RL manifest names. None means the manifest does
not say; callers must report that rather than assume the model is clean.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.core.config import LONGEST_LABEL_HORIZON
from stockagents.core.errors import AgentError
from stockagents.core.manifests import ModelManifest, RLTraining, TrainedOn, find_manifest

__all__ = ["TrainingWindow", "training_window"]


@dataclass(frozen=True)
class TrainingWindow:
    """The ``as_of`` range of a model's training examples."""

    start: dt.date
    end: dt.date
    examples: int
    label_horizon_days: int = LONGEST_LABEL_HORIZON

    @classmethod
    def from_dates(
        cls, dates: Iterable[str | dt.date | None], label_horizon_days: int = LONGEST_LABEL_HORIZON
    ) -> TrainingWindow | None:
        """The window of ``dates`` (ISO strings or dates; None entries are skipped)."""
        days = sorted(_day(d) for d in dates if d)
        if not days:
            return None
        return cls(days[0], days[-1], len(days), label_horizon_days)

    @classmethod
    def from_record(cls, record: TrainedOn | None) -> TrainingWindow | None:
        """The window a manifest's ``trained_on`` gives (None without both dates)."""
        if record is None or not record.start or not record.end:
            return None
        return cls(
            _day(record.start),
            _day(record.end),
            record.examples,
            record.label_horizon_days or LONGEST_LABEL_HORIZON,
        )

    def to_record(self) -> TrainedOn:
        """The manifest's ``trained_on``."""
        return TrainedOn(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            examples=self.examples,
            label_horizon_days=self.label_horizon_days,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_record().model_dump(mode="json")

    def union(self, other: TrainingWindow | None) -> TrainingWindow:
        if other is None:
            return self
        return TrainingWindow(
            min(self.start, other.start),
            max(self.end, other.end),
            self.examples + other.examples,
            max(self.label_horizon_days, other.label_horizon_days),
        )


def _day(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _jsonl_dates(path: Path) -> list[str]:
    dates: list[str] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("as_of"):
                    dates.append(str(record["as_of"]))
    except OSError:
        return []
    return dates


def training_window(model_dir: str | Path, _depth: int = 0) -> TrainingWindow | None:
    """The dates the model at ``model_dir`` trained on, or None when nothing says.

    A manifest with a bad field is an ``AgentError`` (as when the model is loaded)."""
    path = Path(model_dir)
    manifest = find_manifest(path / "manifest.json", ModelManifest, AgentError)
    if manifest is None:
        return None
    if "trained_on" in manifest.model_fields_set:
        return TrainingWindow.from_record(manifest.trained_on)
    window = None
    if manifest.data is not None and manifest.data.path:
        window = TrainingWindow.from_dates(_jsonl_dates(Path(manifest.data.path)))
    training = manifest.training
    start = training.sft_checkpoint if isinstance(training, RLTraining) else None
    if start and _depth < 4 and Path(start).is_dir():
        parent = training_window(Path(start), _depth + 1)
        window = parent.union(window) if parent else window
    return window
