"""Reading SFT examples: the JSONL contract, checked line by line, and the validation split.

One example per line::

    {"prompt": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
     "completion": [{"role": "assistant", "content": "{\\"signal\\": ...}"}],
     "agent": "technical", "symbol": "AAPL", ...}

Only ``prompt`` and ``completion`` go to the trainer (TRL's conversational
prompt-completion format, so the loss is on the completion alone); other keys are kept
for reporting. A malformed line is a ``DataFormatError`` naming the file, the line number
and what is wrong. This module knows nothing about models or tokenizers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockagents.core.errors import DataError, DataFormatError

__all__ = ["SFTExample", "file_sha256", "read_sft_jsonl", "split_validation"]

logger = logging.getLogger(__name__)

_PROMPT_ROLES = ("system", "user")


@dataclass(frozen=True)
class SFTExample:
    """One training example: the chat prompt, the assistant's answer, and where it came from."""

    prompt: list[dict[str, str]]
    completion: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """What the trainer sees."""
        return {"prompt": self.prompt, "completion": self.completion}


def _messages(value: Any, key: str, roles: tuple[str, ...]) -> list[dict[str, str]]:
    """Validated messages of ``key``; raises ValueError saying what is wrong."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key!r} must be a non-empty list of messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise ValueError(f"{key}[{i}] must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in roles:
            raise ValueError(f"{key}[{i}] has role {role!r}; expected {' or '.join(roles)}")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"{key}[{i}] ({role}) needs a non-empty string content")
        out.append({"role": str(role), "content": content})
    return out


def _parse_line(text: str) -> SFTExample:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("prompt", "completion") if key not in record]
    if missing:
        raise ValueError(f"missing {' and '.join(repr(k) for k in missing)}")
    prompt = _messages(record["prompt"], "prompt", _PROMPT_ROLES)
    if prompt[-1]["role"] != "user":
        raise ValueError("the prompt must end with a user message")
    completion = _messages(record["completion"], "completion", ("assistant",))
    meta = {k: v for k, v in record.items() if k not in ("prompt", "completion")}
    return SFTExample(prompt=prompt, completion=completion, meta=meta)


def read_sft_jsonl(path: str | Path, agent: str | None = None) -> list[SFTExample]:
    """Every example of the JSONL file at ``path`` (blank lines are skipped).

    With ``agent``, examples whose ``agent`` key names another agent are reported with a
    warning (they are kept: the file is what the user asked to train on).
    """
    file = Path(path)
    try:
        handle = file.open(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{file}: training data not found; generate it first or fix data.dataset_path"
        ) from None
    except OSError as exc:
        raise DataError(f"{file}: cannot read training data ({exc.strerror})") from None
    examples: list[SFTExample] = []
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    examples.append(_parse_line(line))
                except ValueError as exc:
                    raise DataFormatError(f"{file} line {number}: {exc}") from None
        except UnicodeDecodeError:
            raise DataFormatError(f"{file}: not UTF-8 text; save it as UTF-8 JSONL") from None
    if not examples:
        raise DataFormatError(f"{file}: no examples (the file is empty)")
    if agent is not None:
        others = Counter(
            str(e.meta["agent"]) for e in examples if e.meta.get("agent") not in (None, agent)
        )
        if others:
            logger.warning(
                "%s: %d of %d examples are for other agents (%s) but this run trains %s",
                file,
                sum(others.values()),
                len(examples),
                ", ".join(f"{name}: {n}" for name, n in sorted(others.items())),
                agent,
            )
    return examples


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (recorded in the manifest)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_validation(
    examples: list[SFTExample], fraction: float, seed: int
) -> tuple[list[SFTExample], list[SFTExample]]:
    """(train, validation): a ``fraction`` of the examples drawn by ``seed``, at least one
    when the fraction is positive, never all of them. The same inputs give the same split."""
    if fraction <= 0 or len(examples) < 2:
        return list(examples), []
    count = min(len(examples) - 1, max(1, round(len(examples) * fraction)))
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    train = [e for i, e in enumerate(examples) if i not in held]
    validation = [e for i, e in enumerate(examples) if i in held]
    return train, validation
