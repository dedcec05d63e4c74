"""Schema-constrained decoding for local models, with xgrammar.

A JSON schema is compiled once per tokenizer into a grammar; during generation
(``stockagents.llm._decoding``) each constrained row gets a grammar matcher that masks
every token that would leave the schema, so the row can only produce JSON that parses
and validates (enums, numeric ranges, string lengths), and that names the tokens the
schema forces. Chosen by measuring: xgrammar's masks cost a small fraction of a forward
pass on CPU (see ``bench/generation.py``).

The agents' answers are flat objects of enums, bounded numbers and short strings; for
those ``answer_grammar`` writes the grammar itself, with numbers on a grid of two
decimals (three where a bound needs it): "0.83", never "0.827134", which saves decoding
steps and reads the same. Any other schema goes through xgrammar's JSON-schema compiler.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import xgrammar as xgr
from transformers import PreTrainedTokenizerBase

_GRID_MAX = 2000  # numbers with more grid points than this use the generic grammar


def _decimals(*bounds: float) -> int:
    places = 2
    while places < 6 and any(round(b, places) != b for b in bounds):
        places += 1
    return places


def _number(spec: dict[str, Any]) -> str | None:
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is None or high is None:
        return None
    places = 0 if spec.get("type") == "integer" else _decimals(low, high)
    step = 10**places
    first, last = round(low * step), round(high * step)
    if last - first > _GRID_MAX or last < first:
        return None
    values = []
    for n in range(first, last + 1):
        text = f"{n / step:.{places}f}"
        if text.startswith("-") and n == 0:
            text = text[1:]
        values.append(text)  # with its trailing zeros ("1.00"), then shorter forms
        while "." in text:
            text = text[:-1] if text[-1] == "0" else text
            text = text.rstrip(".") if text.endswith(".") else text
            if text == values[-1]:
                break
            values.append(text)
    return "(" + " | ".join(json.dumps(v) for v in values) + ")"


def _value(spec: dict[str, Any]) -> str | None:
    if "enum" in spec and all(isinstance(v, str) for v in spec["enum"]):
        return "(" + " | ".join(json.dumps(json.dumps(v)) for v in spec["enum"]) + ")"
    if "anyOf" in spec:
        options = [_value(option) for option in spec["anyOf"]]
        if any(o is None for o in options):
            return None
        return "(" + " | ".join(o for o in options if o is not None) + ")"
    kind = spec.get("type")
    if kind == "null":
        return '"null"'
    if kind in ("number", "integer"):
        return _number(spec)
    if kind == "string" and "maxLength" in spec:
        low, high = int(spec.get("minLength", 0)), int(spec["maxLength"])
        return f'"\\"" [^\\0-\\x1f\\"\\\\]{{{low},{high}}} "\\""'
    return None


def answer_grammar(schema: dict[str, Any]) -> str | None:
    """EBNF for a flat object schema (every property required, written in order), or
    None when the schema has anything this does not cover."""
    properties = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(properties, dict) or not properties:
        return None
    if set(schema.get("required", [])) != set(properties):
        return None
    parts = []
    for n, (name, spec) in enumerate(properties.items()):
        value = _value(spec)
        if value is None:
            return None
        key = json.dumps(("" if n == 0 else ", ") + json.dumps(name) + ": ")
        parts.append(f"{key} {value}")
    return 'root ::= "{" ' + " ".join(parts) + ' "}"'


class SchemaCompiler:
    """Compiles JSON schemas for one tokenizer, caching each compiled grammar."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.compiler = xgr.GrammarCompiler(self.info)
        self.vocab_size = vocab_size
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def compile(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema)  # property order is the order the model writes them
        with self._lock:
            grammar = self._cache.get(key)
            if grammar is None:
                ebnf = answer_grammar(schema)
                if ebnf is not None:
                    grammar = self.compiler.compile_grammar(ebnf)
                else:
                    grammar = self.compiler.compile_json_schema(key, any_whitespace=False)
                self._cache[key] = grammar
        return grammar
