"""Grading the agents' reasoning: a rule-based consistency judge, or a model as judge.

Every judge grades ``JudgeItem``s (what one agent read and what it answered) on two
scores in [0, 1]:

- **evidence**: the reasoning cites facts present in the input. The rule judge takes
  every number in the reasoning and key factors (bar small integers, which count
  things) and counts it grounded when the input
  (its payload or the prompt text the agent read) holds it to the precision written, as
  a fraction or a percentage, or when it is the answer's own score or confidence, or the
  strategist's composite (the sum of its terms). No cited number scores 0. An analyst
  with no data that abstains (neutral, confidence 0) scores 1; one that takes a view
  without data scores 0.
- **consistency**: the answer follows from the evidence it states. Analysts: the label
  matches the score against the signal threshold, and the first direction word in
  the reasoning matches the label. Strategist: the action matches the composite against the
  buy and sell thresholds, the first action word in the reasoning matches, the size is zero
  for HOLD and positive for a new position, and a long's stop is below and target above
  the close.

``ModelJudge`` asks an OpenAI or Anthropic model with the rubric in
``prompts/judge.md`` and ``prompts/judge_rubrics.md`` and maps its 1-5 grades to [0, 1];
an answer that is not valid JSON is counted, not guessed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from stockagents.agents.base import label_for
from stockagents.agents.prompting import render_prompt
from stockagents.core.errors import BackendError, ConfigError
from stockagents.core.settings import load_settings
from stockagents.llm.base import Backend, GenerationRequest, Sampling

__all__ = [
    "JUDGES", "Judge", "JudgeItem", "ModelJudge", "RuleJudge", "Verdict", "build_judge",
    "rubric_version",
]  # fmt: skip

JUDGES = ("rules", "anthropic", "openai")
DEFAULT_JUDGE_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"}

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?%?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class JudgeItem:
    """One answer to grade: the agent, what it read (``payload``) and what it answered."""

    agent: str
    payload: dict[str, Any]
    answer: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    evidence: float
    consistency: float
    comment: str
    valid: bool = True


class Judge(Protocol):
    name: str

    def grade(self, items: Sequence[JudgeItem]) -> list[Verdict]: ...

    def close(self) -> None: ...


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(_DATE.sub(" ", text))


def _citations(text: str) -> list[str]:
    """The numbers a reasoning cites as evidence; small bare integers (counts such as
    "2 of 5 components") are derived, not cited."""
    return [n for n in _numbers(text) if "." in n or "%" in n or abs(int(n)) > 10]


def _flatten(value: Any, out: list[float], texts: list[str]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            out.append(float(value))
    elif isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out, texts)
    elif isinstance(value, list):
        for v in value:
            _flatten(v, out, texts)


def _read(item: JudgeItem) -> str:
    """The prompt text the agent read (the payload as JSON if it cannot be rendered)."""
    try:
        return render_prompt(item.agent, item.payload)[1]["content"]
    except (KeyError, TypeError, ValueError):
        return json.dumps(item.payload, default=str)


def _known(item: JudgeItem) -> list[float]:
    values: list[float] = []
    texts: list[str] = []
    _flatten(item.payload, values, texts)
    texts.append(_read(item))
    for text in texts:
        values.extend(float(n.rstrip("%")) for n in _numbers(text))
    values.extend(
        float(v) for k, v in item.answer.items() if isinstance(v, (int, float)) and k != "valid"
    )
    terms = item.payload.get("terms")
    if isinstance(terms, dict) and terms:
        values.append(sum(float(v) for v in terms.values()))
    return values


def _grounded(cited: str, known: Sequence[float]) -> bool:
    percent = cited.endswith("%")
    text = cited.rstrip("%").lstrip("+")
    decimals = len(text.split(".")[1]) if "." in text else 0
    value = abs(float(text))
    tolerance = 0.5 * 10.0**-decimals + 1e-9
    candidates = [abs(v) for v in known]
    if percent:
        candidates += [abs(v) * 100 for v in known]
    return any(abs(value - c) <= tolerance for c in candidates)


def _verdict_word(text: str, words: Sequence[str]) -> str | None:
    """The first of ``words`` in ``text``: the verdict a reasoning states first."""
    found = re.search(r"\b(" + "|".join(words) + r")\b", text, flags=re.IGNORECASE)
    return found.group(1).lower() if found else None


class RuleJudge:
    """The offline judge (see the module docstring); deterministic and free."""

    name = "rules"

    def grade(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        return [self._grade(item) for item in items]

    def close(self) -> None:
        """Nothing to release."""

    def _grade(self, item: JudgeItem) -> Verdict:
        answer = item.answer
        text = " ".join([str(answer.get("reasoning", "")), *list(answer.get("key_factors", []))])
        if item.agent != "strategist" and item.payload.get("unavailable"):
            abstained = answer.get("signal") == "neutral" and not answer.get("confidence")
            score = 1.0 if abstained else 0.0
            comment = "abstained without data" if abstained else "took a view without data"
            return Verdict(score, score, comment)
        cited = _citations(text)
        known = _known(item)
        grounded = [c for c in cited if _grounded(c, known)]
        evidence = len(grounded) / len(cited) if cited else 0.0
        checks = (
            self._strategist(item, text)
            if item.agent == "strategist"
            else self._analyst(item, text)
        )
        consistency = sum(ok for ok, _ in checks) / len(checks)
        problems = [why for ok, why in checks if not ok]
        if not cited:
            problems.insert(0, "cites no number from its input")
        elif len(grounded) < len(cited):
            missing = [c for c in cited if c not in grounded][:3]
            problems.insert(0, f"cites {', '.join(missing)}, not in its input")
        return Verdict(evidence, consistency, "; ".join(problems) or "consistent and grounded")

    @staticmethod
    def _analyst(item: JudgeItem, text: str) -> list[tuple[bool, str]]:
        answer = item.answer
        label = str(answer.get("signal"))
        score = float(answer.get("score") or 0.0)
        threshold = (item.payload.get("thresholds") or {}).get("signal")
        if threshold:
            expected = label_for(score, float(threshold)).value
        else:
            expected = "bullish" if score > 0 else "bearish" if score < 0 else "neutral"
        checks = [(label == expected, f"label {label} but score {score:+.2f} means {expected}")]
        word = _verdict_word(text, ("bullish", "bearish", "neutral"))
        if word is not None:
            checks.append((word == label, f"reasoning says {word}, label {label}"))
        return checks

    @staticmethod
    def _strategist(item: JudgeItem, text: str) -> list[tuple[bool, str]]:
        answer, payload = item.answer, item.payload
        action = str(answer.get("action"))
        size = float(answer.get("position_size") or 0.0)
        composite = round(sum(float(v) for v in (payload.get("terms") or {}).values()), 2)
        thresholds = payload.get("thresholds") or {}
        buy, sell = float(thresholds.get("buy", 0.12)), float(thresholds.get("sell", 0.12))
        expected = "BUY" if composite >= buy else "SELL" if composite <= -sell else "HOLD"
        checks = [
            (action == expected, f"{action} but the composite {composite:+.2f} says {expected}")
        ]
        word = _verdict_word(text, ("BUY", "SELL", "HOLD"))
        if word is not None:
            checks.append(
                (word.upper() == action, f"reasoning says {word.upper()}, action {action}")
            )
        if action == "HOLD":
            checks.append((size == 0.0, f"HOLD with size {size:.2f}"))
        elif action == "BUY":
            checks.append((size > 0.0, "BUY with size 0"))
            close = float((payload.get("market") or {}).get("close") or 0.0)
            stop, take = answer.get("stop_loss"), answer.get("take_profit")
            levels_ok = (stop is None or stop < close) and (take is None or take > close)
            checks.append((levels_ok, f"BUY at {close:.2f} with stop {stop} and target {take}"))
        return checks


class _Grades(BaseModel):
    evidence: int = Field(ge=1, le=5)
    consistency: int = Field(ge=1, le=5)
    comment: str = ""


def _template(name: str) -> str:
    return (resources.files("stockagents") / "evaluation" / "prompts" / name).read_text(
        encoding="utf-8"
    )


def rubric_version() -> str:
    """A short hash of the judge's prompt files (part of a cached verdict's key)."""
    text = _template("judge.md") + _template("judge_rubrics.md")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _rubrics() -> dict[str, str]:
    sections = re.split(r"^## (\w+)\s*$", _template("judge_rubrics.md"), flags=re.MULTILINE)
    return {sections[i]: " ".join(sections[i + 1].split()) for i in range(1, len(sections), 2)}


class ModelJudge:
    """A model as judge through any ``Backend`` (OpenAI, Anthropic, a compatible server)."""

    def __init__(self, backend: Backend, batch_size: int = 8) -> None:
        self.backend = backend
        self.name = f"{backend.kind}:{backend.model_id}"
        self.batch_size = batch_size
        text = _template("judge.md")
        _, _, rest = text.partition("<!-- system -->")
        system, _, user = rest.partition("<!-- user -->")
        self._system, self._user = Template(system.strip()), Template(user.strip())
        self._rubrics = _rubrics()

    def _request(self, item: JudgeItem) -> GenerationRequest:
        read = _read(item)
        shown = {k: v for k, v in item.answer.items() if k not in ("valid", "symbol", "as_of")}
        messages = [
            {
                "role": "system",
                "content": self._system.safe_substitute(rubric=self._rubrics.get(item.agent, "")),
            },
            {
                "role": "user",
                "content": self._user.safe_substitute(
                    agent=item.agent, input=read, answer=json.dumps(shown, default=str)
                ),
            },
        ]
        return GenerationRequest(messages, schema=_Grades.model_json_schema(), name="grades")

    def close(self) -> None:
        self.backend.close()

    def grade(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        sampling = Sampling(max_new_tokens=200, temperature=0.0)
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            try:
                texts = self.backend.generate([self._request(i) for i in batch], sampling)
            except BackendError as exc:
                texts = [""] * len(batch)
                reason = str(exc).splitlines()[0]
                verdicts.extend(
                    Verdict(math.nan, math.nan, f"judge failed: {reason}", False) for _ in batch
                )
                continue
            for text in texts:
                verdicts.append(_parse_grades(text))
        return verdicts


def _parse_grades(text: str) -> Verdict:
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    try:
        grades = _Grades.model_validate_json(match.group(0) if match else text)
    except ValidationError:
        return Verdict(math.nan, math.nan, f"judge answer not valid JSON: {text[:80]!r}", False)
    return Verdict((grades.evidence - 1) / 4, (grades.consistency - 1) / 4, grades.comment)


def build_judge(kind: str, model: str | None = None, base_url: str | None = None) -> Judge:
    """The judge ``--judge`` names; an API judge needs its key unless ``base_url`` is set
    (another server, which gets a placeholder key)."""
    if kind == "rules":
        return RuleJudge()
    if kind not in JUDGES:
        raise ConfigError(f"--judge {kind!r}: use one of {', '.join(JUDGES)}")
    name = model or DEFAULT_JUDGE_MODELS[kind]
    settings = load_settings()
    secret = settings.anthropic_api_key if kind == "anthropic" else settings.openai_api_key
    if base_url is None and secret is None:
        env = "ANTHROPIC_API_KEY" if kind == "anthropic" else "OPENAI_API_KEY"
        raise ConfigError(
            f"--judge {kind} needs {env} (in the environment or .env); or use --judge rules"
        )
    key = secret.get_secret_value() if secret is not None and base_url is None else None
    backend: Backend
    if kind == "anthropic":
        from stockagents.llm.anthropic_backend import AnthropicBackend

        backend = AnthropicBackend(name, api_key=key, base_url=base_url)
    else:
        from stockagents.llm.openai_backend import OpenAIBackend

        backend = OpenAIBackend(name, api_key=key, base_url=base_url)
    return ModelJudge(backend)
