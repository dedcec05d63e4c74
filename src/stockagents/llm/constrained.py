"""Schema-constrained decoding for local models, with xgrammar.

A JSON schema is compiled once per tokenizer into a grammar; during generation a logits
processor keeps one grammar matcher per batch row and masks every token that would leave
the schema, so a constrained row can only produce JSON that parses and validates
(enums, numeric ranges, string lengths). Rows without a schema are left alone. Chosen by
measuring: xgrammar's masks cost a small fraction of a forward pass on CPU (see
``bench/generation.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import torch
import xgrammar as xgr
from transformers import LogitsProcessor, PreTrainedTokenizerBase

__all__ = ["SchemaCompiler", "SchemaLogitsProcessor"]


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
                grammar = self.compiler.compile_json_schema(key, any_whitespace=False)
                self._cache[key] = grammar
        return grammar


class SchemaLogitsProcessor(LogitsProcessor):
    """Masks logits row by row so constrained rows follow their grammar to the end."""

    def __init__(self, grammars: Sequence[Any | None], vocab_size: int, eos_token_id: int) -> None:
        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)
        self.eos_token_id = eos_token_id
        self.done = [m is None for m in self.matchers]
        self.first = True

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.first:
            for row, matcher in enumerate(self.matchers):
                if matcher is None or self.done[row]:
                    continue
                token = int(input_ids[row, -1])
                if matcher.is_terminated() or not matcher.accept_token(token):
                    self.done[row] = True
        self.first = False
        active = []
        for row, matcher in enumerate(self.matchers):
            if matcher is None:
                continue
            if self.done[row] or matcher.is_terminated():
                scores[row, :] = float("-inf")  # finished: only end-of-sequence
                scores[row, self.eos_token_id] = 0.0
                continue
            matcher.fill_next_token_bitmask(self.bitmask, row)
            active.append(row)
        if active:
            xgr.apply_token_bitmask_inplace(
                scores, self.bitmask.to(scores.device), vocab_size=scores.shape[-1], indices=active
            )
        return scores
