"""Held-out evaluation of one agent's model against its teacher's answers.

For each held-out prompt (``*_heldout.jsonl`` from ``training.synthetic``) the agent's
model answers under the answer schema, with the agents' one repair round; the report
gives the valid-output rate (first try, and after the repair), agreement with the
teacher's label, per-class precision / recall / F1, macro F1, the calibration of the
stated confidence (ECE, Brier; next to the ECE that echoing the teacher's confidence
would get, since the teacher's confidence is its own scale), the mean gaps between the
student's and the teacher's score and confidence, and every prediction with its raw
text. The metrics come from ``evaluation.metrics``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from stockagents.agents.answering import Answer, Prompt, answer_prompts
from stockagents.agents.prompting import parse_answer
from stockagents.agents.runtime import load_runtime
from stockagents.core.errors import DataFormatError
from stockagents.evaluation.metrics import (
    brier_score,
    classification_metrics,
    expected_calibration_error,
)
from stockagents.llm.base import Sampling

__all__ = ["evaluate_agent"]

logger = logging.getLogger(__name__)


def read_heldout(path: Path) -> list[dict[str, Any]]:
    """The held-out records of ``path`` (prompt, completion, label, payload)."""
    if not path.is_file():
        raise DataFormatError(f"{path}: no such held-out file; generate data first")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["prompt"], record["completion"][0]["content"], record["label"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise DataFormatError(
                f"{path} line {number}: not a held-out record ({type(exc).__name__}: {exc})"
            ) from None
        records.append(record)
    return records


def _label(agent: str, answer: Answer) -> str | None:
    if answer.parsed is None:
        return None
    return str(getattr(answer.parsed, "action" if agent == "strategist" else "signal"))


def _prompts(records: Sequence[dict[str, Any]]) -> list[Prompt]:
    """The prompts exactly as trained on (and the payload for an expert's rules)."""
    return [Prompt(json.loads(r.get("payload") or "{}"), r["prompt"]) for r in records]


def evaluate_agent(
    agent: str,
    model_path: str | Path,
    heldout: Path,
    *,
    limit: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of the model at ``model_path`` on ``heldout`` (see the module docstring)."""
    from stockagents.agents.expert_backend import ExpertBackend

    records = read_heldout(heldout)[:limit]
    runtime = load_runtime(agent, model_path)
    backend = runtime.backend if runtime else ExpertBackend()
    sampling = runtime.sampling if runtime else Sampling()
    requests = _prompts(records)
    adapter = runtime.adapter if runtime else None
    stats: Counter[str] = Counter()
    answers: list[Answer] = []
    bar = Progress(
        TextColumn(f"evaluating {agent}"), BarColumn(), MofNCompleteColumn(), disable=not progress
    )
    with bar:
        task = bar.add_task("eval", total=len(requests))
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            answers += answer_prompts(agent, backend, chunk, sampling, adapter=adapter, stats=stats)
            bar.advance(task, len(chunk))
    truth = [str(r["label"]) for r in records]
    predicted = [_label(agent, a) for a in answers]
    metrics = classification_metrics(truth, predicted)
    agree = [float(t == p) for t, p in zip(truth, predicted, strict=True)]
    confidence = [a.parsed.confidence if a.parsed else float("nan") for a in answers]
    first_try = sum(1 for a in answers if a.parsed is not None and not a.repaired)
    valid = sum(1 for a in answers if a.parsed is not None)
    gaps, confidence_gaps = [], []
    teacher_confidence = []
    for record, answer in zip(records, answers, strict=True):
        teacher, _ = parse_answer(agent, record["completion"][0]["content"])
        teacher_confidence.append(teacher.confidence if teacher else float("nan"))
        mine = answer.parsed
        if teacher is None or mine is None:
            continue
        key = "position_size" if agent == "strategist" else "score"
        gaps.append(abs(float(getattr(mine, key)) - float(getattr(teacher, key))))
        confidence_gaps.append(abs(mine.confidence - teacher.confidence))
    n = len(records)
    metrics.update(
        {
            "model": str(model_path),
            "valid_rate": first_try / n if n else float("nan"),
            "valid_after_repair": valid / n if n else float("nan"),
            "ece": expected_calibration_error(confidence, agree),
            # The teacher's confidence is its own scale, not a probability of agreeing
            # with it: the ECE a perfect copy of the teacher's confidence would get.
            "ece_teacher_confidence": expected_calibration_error(teacher_confidence, agree),
            "brier": brier_score(confidence, agree),
            "mean_confidence_gap": (
                sum(confidence_gaps) / len(confidence_gaps) if confidence_gaps else float("nan")
            ),
            "mean_abs_gap": sum(gaps) / len(gaps) if gaps else float("nan"),
            "gap_of": "position_size" if agent == "strategist" else "score",
        }
    )
    metrics["predictions"] = [
        {"label": t, "predicted": p, "raw": a.raw}
        for t, p, a in zip(truth, predicted, answers, strict=True)
    ]
    return metrics
