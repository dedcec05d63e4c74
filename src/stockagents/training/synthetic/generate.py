"""Synthetic SFT data for one agent: draw inputs, ask the teacher, validate, write.

``generate_dataset`` writes, next to ``output`` (``data/training/news_train.jsonl``):

- ``news_train.jsonl``: the training examples, in the prompt-completion chat format
  TRL's ``SFTTrainer`` reads (``prompt``: system and user messages; ``completion``: the
  assistant's answer JSON, written as constrained decoding writes it), plus ``agent``,
  ``symbol``, ``as_of``, ``teacher``, ``label``, ``source`` and ``payload`` (the agent's
  structured input, as a JSON string) for reports and re-asking;
- ``news_heldout.jsonl``: held-out prompts from the validation segment, answered by the
  same teacher, for evaluating the trained agent (never trained on);
- ``news_train.report.json`` / ``.md``: counts, label balance, rejected examples and why;
- ``news_train.manifest.json``: teacher, model, seed, prompt version, data hashes, splits.

News headlines: with an API teacher (openai, anthropic), ``headline_share`` of the news
days (default ``DEFAULT_HEADLINE_SHARE``, half; 0 with the expert alone) get headlines
the teacher writes (``teacher_headlines``); the rest, and every day whose reply is
refused, come from the offline generator. Each news record says whose headlines it read
(``headlines``: ``synthetic`` or ``teacher:<name>``); the report and the manifest count
them, and the asks that fell back.

Validation: the answer parses against the agent's schema (enums, ranges, lengths); the
date lies inside the segment it was drawn for; no prompt appears twice; no training
prompt is also a held-out prompt. Balance: the teacher answers a pool ``oversample``
times larger than asked (the expert costs nothing; API teachers default to no
oversampling), and the examples kept, training and held-out alike, are spread over the
labels as evenly as the pool allows (a skewed held-out set would reward a model that
always gives the majority label).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockagents.agents.prompting import format_answer, prompt_version, render_prompt
from stockagents.core.config import AppConfig
from stockagents.core.errors import ConfigError
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import DataFile, SFTDataManifest, write_manifest
from stockagents.training.synthetic.inputs import AGENTS, InputExample, InputSampler
from stockagents.training.synthetic.teacher_headlines import HeadlineWriter
from stockagents.training.synthetic.teachers import Teacher, TeacherAnswer

__all__ = ["DatasetResult", "generate_dataset", "heldout_path", "sibling"]

logger = logging.getLogger(__name__)

#: A label below this share of the kept examples is flagged in the report.
MIN_LABEL_SHARE = 0.10
#: Share of news days whose headlines an API teacher writes, unless told otherwise.
DEFAULT_HEADLINE_SHARE = 0.5


def sibling(output: Path, suffix: str) -> Path:
    """``news_train.jsonl`` -> ``news_train<suffix>``."""
    return output.with_name(output.stem + suffix)


def heldout_path(output: Path) -> Path:
    """``news_train.jsonl`` -> ``news_heldout.jsonl`` (``x.jsonl`` -> ``x_heldout.jsonl``)."""
    stem = output.stem.removesuffix("_train")
    return output.with_name(f"{stem}_heldout{output.suffix or '.jsonl'}")


@dataclass
class DatasetResult:
    """What one generation wrote and found."""

    agent: str
    train_path: Path
    heldout_path: Path
    examples: int
    heldout: int
    labels: dict[str, int]
    rejected: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def _label(agent: str, answer: TeacherAnswer) -> str:
    parsed = answer.answer.parsed
    assert parsed is not None
    return str(getattr(parsed, "action" if agent == "strategist" else "signal"))


def _record(example: InputExample, answer: TeacherAnswer) -> dict[str, Any]:
    parsed = answer.answer.parsed
    assert parsed is not None
    messages = render_prompt(example.agent, example.payload)
    headlines = {"headlines": example.meta["headlines"]} if "headlines" in example.meta else {}
    return {
        "prompt": messages,
        "completion": [{"role": "assistant", "content": format_answer(parsed)}],
        "agent": example.agent,
        "symbol": example.symbol,
        "as_of": example.as_of.isoformat(),
        "teacher": answer.teacher,
        "label": _label(example.agent, answer),
        "source": example.source,
        **headlines,
        "payload": json.dumps(example.payload, ensure_ascii=False, default=str),
    }


def _prompt_key(example: InputExample) -> str:
    return json.dumps(render_prompt(example.agent, example.payload), sort_keys=True)


def _validate(
    examples: Sequence[InputExample],
    answers: Sequence[TeacherAnswer],
    segment: tuple[dt.date, dt.date],
    rejected: Counter[str],
    samples: dict[str, list[str]],
    exclude: set[str] | None = None,
) -> list[tuple[InputExample, TeacherAnswer]]:
    seen: set[str] = set()
    kept = []
    for example, answer in zip(examples, answers, strict=True):
        key = _prompt_key(example)
        reason = None
        if answer.answer.parsed is None:
            reason = "invalid answer"
            detail = answer.answer.error or "no JSON"
        elif not segment[0] <= example.as_of <= segment[1]:
            reason = "date outside its segment"
            detail = example.as_of.isoformat()
        elif key in seen:
            reason = "duplicate prompt"
            detail = f"{example.symbol} {example.as_of}"
        elif exclude is not None and key in exclude:
            reason = "also a held-out prompt"
            detail = f"{example.symbol} {example.as_of}"
        if reason is not None:
            rejected[reason] += 1
            if len(samples[reason]) < 3:
                samples[reason].append(detail[:200])
            continue
        seen.add(key)
        kept.append((example, answer))
    return kept


def _balanced(
    agent: str, kept: list[tuple[InputExample, TeacherAnswer]], n: int, seed: int
) -> list[tuple[InputExample, TeacherAnswer]]:
    """``n`` examples spread over the labels as evenly as the pool allows."""
    if len(kept) <= n:
        return kept
    by_label: dict[str, list[tuple[InputExample, TeacherAnswer]]] = defaultdict(list)
    for pair in kept:
        by_label[_label(agent, pair[1])].append(pair)
    chosen: list[tuple[InputExample, TeacherAnswer]] = []
    queues = [list(v) for _, v in sorted(by_label.items())]
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    random.Random(seed).shuffle(chosen)
    return chosen


def _ask(
    teacher: Teacher, agent: str, examples: list[InputExample], label: str, progress: bool
) -> list[TeacherAnswer]:
    bar = Progress(
        TextColumn(f"{agent} {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
    )
    with bar:
        task = bar.add_task(label, total=len(examples))
        return teacher.answer(agent, [e.payload for e in examples], lambda k: bar.advance(task, k))


def _headline_writer(agent: str, teacher: Teacher, share: float | None) -> HeadlineWriter | None:
    """The writer of ``agent``'s headlines (news only; None: all from the offline generator)."""
    if share is not None and not 0.0 <= share <= 1.0:
        raise ConfigError(f"--teacher-headlines {share}: give a share from 0 to 1")
    if agent != "news":
        return None
    if share is None:
        share = DEFAULT_HEADLINE_SHARE if teacher.headline_writers else 0.0
    if share == 0.0:
        return None
    if not teacher.headline_writers:
        raise ConfigError(
            f"--teacher-headlines {share}: the {teacher.name} teacher cannot write headlines; "
            "add an openai or anthropic provider, or set --teacher-headlines 0"
        )
    return teacher.headline_writer(share)


def _headline_counts(
    writer: HeadlineWriter | None,
    drawn: Sequence[InputExample],
    records: Sequence[dict[str, Any]],
    held_records: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    asked = [e for e in drawn if "headline_writer" in e.meta]
    fallbacks = [e for e in asked if "headline_fallback" in e.meta]
    return {
        "share": writer.share if writer is not None else 0.0,
        "writers": writer.names if writer is not None else [],
        "train": dict(sorted(Counter(r["headlines"] for r in records).items())),
        "heldout": dict(sorted(Counter(r["headlines"] for r in held_records).items())),
        "asked": len(asked),
        "fallbacks": len(fallbacks),
        "fallback_examples": [
            f"{e.symbol} {e.as_of} {e.meta['headline_writer']}: {e.meta['headline_fallback']}"
            for e in fallbacks[:3]
        ],
    }


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return hashlib.sha256(text.encode()).hexdigest()


_Pair = tuple[InputExample, TeacherAnswer]


@dataclass
class _Generation:
    """One agent's data generation: who answers, how inputs are drawn, what was rejected."""

    agent: str
    teacher: Teacher
    sampler: InputSampler
    writer: HeadlineWriter | None
    seed: int
    oversample: float
    progress: bool
    rejected: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def examples(
        self, n: int, segment: str, label: str, exclude: set[str] | None = None
    ) -> tuple[list[InputExample], list[_Pair], list[_Pair]]:
        """Draw, answer, validate and balance ``n`` examples: the pool, valid, chosen."""
        span = self.sampler.segment(segment)
        pool = max(n, round(n * self.oversample))
        inputs = list(self.sampler.draw(self.agent, pool, segment, self.seed, self.writer))
        answers = _ask(self.teacher, self.agent, inputs, label, self.progress)
        window = (span.start, span.end)
        kept = _validate(inputs, answers, window, self.rejected, self.samples, exclude)
        return inputs, kept, _balanced(self.agent, kept, n, self.seed)


def _check_request(agent: str, num_examples: int, output: Path) -> None:
    """Refuse an unknown agent, fewer than one example, or a directory as the output."""
    if agent not in AGENTS:
        raise ConfigError(f"--agent-type {agent!r}: use one of {', '.join(AGENTS)}")
    if num_examples < 1:
        raise ConfigError(f"--num-examples {num_examples}: must be at least 1")
    if Path(output).is_dir():
        raise ConfigError(
            f"--output {output}: is a directory, not a file; name the JSONL file to write "
            f"(e.g. {Path(output) / f'{agent}_train.jsonl'})"
        )


def _data_warnings(records: Sequence[dict[str, Any]], num_examples: int) -> list[str]:
    """Too few examples kept, and labels below ``MIN_LABEL_SHARE`` of the data."""
    labels = Counter(r["label"] for r in records)
    warnings = []
    if len(records) < num_examples:
        warnings.append(f"kept {len(records)} of the {num_examples} examples asked for")
    for label, count in sorted(labels.items()):
        if records and count / len(records) < MIN_LABEL_SHARE:
            warnings.append(f"label {label} is only {count / len(records):.0%} of the data")
    return warnings


def _report(
    gen: _Generation,
    records: list[dict[str, Any]],
    held_records: list[dict[str, Any]],
    num_examples: int,
    pool: int,
    not_kept: int,
) -> dict[str, Any]:
    """``<output>.report.json``: counts, label balance, rejections and warnings."""
    return {
        "agent": gen.agent,
        "examples": len(records),
        "asked": num_examples,
        "pool": pool,
        "heldout": len(held_records),
        "labels": dict(sorted(Counter(r["label"] for r in records).items())),
        "heldout_labels": dict(sorted(Counter(r["label"] for r in held_records).items())),
        "teachers": dict(Counter(r["teacher"] for r in records)),
        "sources": dict(Counter(r["source"] for r in records)),
        "rejected": dict(gen.rejected),
        "rejected_examples": {k: v for k, v in gen.samples.items()},
        "not_kept_for_balance": not_kept,
        "warnings": _data_warnings(records, num_examples),
    }


def _manifest(
    gen: _Generation, report: dict[str, Any], files: dict[str, DataFile]
) -> SFTDataManifest:
    """``<output>.manifest.json``: teacher, seed, prompt version, file hashes, splits."""
    manifest = SFTDataManifest(
        agent=gen.agent,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        teacher=gen.teacher.name,
        teacher_fallbacks=gen.teacher.fallbacks,
        seed=gen.seed,
        prompt_version=prompt_version(gen.agent),
        files=files,
        splits=gen.sampler.splits.to_dict(),
        prices=gen.sampler.sources.prices.name,
        oversample=gen.oversample,
    )
    if gen.agent == "news":
        manifest.headlines = {
            k: v for k, v in report["headlines"].items() if k != "fallback_examples"
        }
    return manifest


def generate_dataset(
    agent: str,
    num_examples: int,
    output: Path,
    teacher: Teacher,
    *,
    config: AppConfig | None = None,
    sampler: InputSampler | None = None,
    seed: int = 0,
    heldout_examples: int | None = None,
    oversample: float | None = None,
    headline_share: float | None = None,
    progress: bool = True,
) -> DatasetResult:
    """Generate, validate and write ``agent``'s training and held-out data.

    ``headline_share``: share of news days whose headlines the API teacher writes
    (None: ``DEFAULT_HEADLINE_SHARE`` with an API provider, 0 without one).
    """
    _check_request(agent, num_examples, output)
    writer = _headline_writer(agent, teacher, headline_share)
    sampler = sampler or InputSampler(config)
    if oversample is None:
        oversample = 3.0 if teacher.name == "expert" else 1.0
    n_heldout = heldout_examples if heldout_examples is not None else max(20, num_examples // 5)
    gen = _Generation(agent, teacher, sampler, writer, seed, oversample, progress)
    # Balanced like the training set: agreement on a skewed set rewards the majority label.
    held_inputs, _, held = gen.examples(n_heldout, "validation", "held-out")
    held_keys = {_prompt_key(e) for e, _ in held}
    inputs, kept, chosen = gen.examples(num_examples, "train", "train", held_keys)

    records = [_record(e, a) for e, a in chosen]
    held_records = [_record(e, a) for e, a in held]
    train_hash = _write_jsonl(output, records)
    held_path = heldout_path(output)
    held_hash = _write_jsonl(held_path, held_records)

    report = _report(gen, records, held_records, num_examples, len(inputs), len(kept) - len(chosen))
    if agent == "news":
        report["headlines"] = _headline_counts(writer, held_inputs + inputs, records, held_records)
    write_json(sibling(output, ".report.json"), report)
    sibling(output, ".report.md").write_text(_report_markdown(report), encoding="utf-8")
    files = {
        output.name: DataFile(sha256=train_hash, examples=len(records)),
        held_path.name: DataFile(sha256=held_hash, examples=len(held_records)),
    }
    write_manifest(sibling(output, ".manifest.json"), _manifest(gen, report, files))
    warnings: list[str] = report["warnings"]
    for warning in warnings:
        logger.warning("%s data: %s", agent, warning)
    labels = Counter(r["label"] for r in records)
    return DatasetResult(
        agent, output, held_path, len(records), len(held_records), dict(labels),
        dict(gen.rejected), warnings,
    )  # fmt: skip


def _headline_lines(headlines: dict[str, Any] | None) -> list[str]:
    if headlines is None:
        return []
    counts = ", ".join(f"{k} {v}" for k, v in headlines["train"].items()) or "none"
    line = f"- headlines: {counts} (teacher share {headlines['share']:g}"
    if headlines["asked"]:
        line += (
            f"; {headlines['asked']} days asked for, {headlines['fallbacks']} replies refused "
            "and replaced by offline headlines"
        )
    lines = [line + ")"]
    lines += [f"  - refused: {e}" for e in headlines["fallback_examples"]]
    return lines


def _report_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# {report['agent']} training data",
        "",
        f"- examples: {report['examples']} (asked {report['asked']}, teacher answered "
        f"{report['pool']}); held-out: {report['heldout']}",
        f"- teachers: {', '.join(f'{k} {v}' for k, v in report['teachers'].items())}",
        f"- sources: {', '.join(f'{k} {v}' for k, v in report['sources'].items())}",
        *_headline_lines(report.get("headlines")),
        "",
        "| label | train | share | held-out |",
        "|---|---:|---:|---:|",
    ]
    total = max(1, report["examples"])
    for label in sorted(set(report["labels"]) | set(report["heldout_labels"])):
        count = report["labels"].get(label, 0)
        lines.append(
            f"| {label} | {count} | {count / total:.0%} | "
            f"{report['heldout_labels'].get(label, 0)} |"
        )
    lines += ["", "## Rejected", ""]
    if not report["rejected"]:
        lines.append("none")
    for reason, count in report["rejected"].items():
        examples = "; ".join(report["rejected_examples"].get(reason, []))
        lines.append(f"- {reason}: {count} (e.g. {examples})")
    if report["warnings"]:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in report["warnings"]]]
    return "\n".join(lines) + "\n"
