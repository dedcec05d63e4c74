"""The local decoding loop: KV cache, cached prompt prefixes, jump-forward of forced tokens.

``decode`` runs a batch of prompts through a causal LM (optionally with per-row LoRA
adapters) and returns each row's new tokens. Three things make it faster on a CPU than
``model.generate`` for the agents' short JSON answers:

* **Prefix cache.** Every prompt of an agent starts with the same system message. Its
  keys and values are computed once per (adapter, token ids) and kept (LRU); a batch
  starts from the cached prefixes and only runs the rest of each prompt.
* **Jump-forward.** Under a schema, much of the answer is forced (``{"signal": "``,
  ``", "confidence": ``, ``"}``). After each sampled token the grammar's forced
  continuation is tokenized and fed in the same forward pass, so a key costs one step
  instead of five. The last forced token is left to the model when the grammar allows a
  token that extends it (``' "+'`` after ``' "'``, ``' -'`` after ``' '``), so the
  model sees the tokens it was trained on (token healing).
* **Finished rows leave the batch**, so a long answer does not make the others pay.

Rows of different lengths share one cache: each row's tokens are right-aligned within
every chunk, padding is masked out and positions are passed explicitly, so a row sees
exactly its own tokens at their own positions.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from stockagents.llm._stacked_lora import AdapterRouter
from stockagents.llm.base import Sampling

logger = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed batch
MIN_PREFIX = 8  # shorter shared prefixes are not worth a cache entry


@dataclass
class DecodeRow:
    """One prompt: its token ids, how many of them form the cacheable prefix, its adapter
    (None for the bare base) and its grammar matcher (None for free text)."""

    ids: list[int]
    prefix_len: int = 0
    adapter: str | None = None
    matcher: Any = None
    out: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class DecodeStats:
    prompt_tokens: int = 0
    prefilled_tokens: int = 0  # prompt tokens run this call (the rest came from the cache)
    new_tokens: int = 0
    forced_tokens: int = 0  # new tokens that jump-forward fed without a decoding step
    steps: int = 0  # forward passes after the prefill


class PrefixCache:
    """Keys and values of shared prompt prefixes, per (adapter, token ids), least recently
    used first out. Cleared whenever the model's weights change."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, tuple[int, ...]], list[tuple[Any, Any]]] = (
            OrderedDict()
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, tuple[int, ...]]) -> list[tuple[Any, Any]] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return entry

    def put(self, key: tuple[str, tuple[int, ...]], layers: list[tuple[Any, Any]]) -> None:
        self._entries[key] = layers
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def forced_tokens(tokenizer: Any, text: str) -> tuple[list[int], int | None]:
    """The tokens jump-forward feeds for the grammar-forced ``text``, split into the ones
    it always feeds and the last one (None for empty text), which it feeds only when no
    token the grammar allows next extends it (see ``_Decoder._heal``)."""
    ids = [int(t) for t in tokenizer.encode(text, add_special_tokens=False)]
    if not ids:
        return [], None
    return ids[:-1], ids[-1]


_PIECES: dict[int, list[str]] = {}
_EXTENDS: dict[tuple[int, int], torch.Tensor] = {}


def _extensions(tokenizer: Any, token: int) -> torch.Tensor:
    """A boolean mask over the vocabulary: the tokens whose text starts with ``token``'s
    text and goes on (``' "+'`` extends ``' "'``, ``' -'`` extends ``' '``)."""
    key = (id(tokenizer), token)
    if key not in _EXTENDS:
        pieces = _PIECES.get(id(tokenizer))
        if pieces is None:
            raw = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
            pieces = _PIECES[id(tokenizer)] = [p or "" for p in raw]
        head = pieces[token]
        _EXTENDS[key] = torch.tensor(
            [len(p) > len(head) and p.startswith(head) for p in pieces], dtype=torch.bool
        )
    return _EXTENDS[key]


@functools.cache
def _growing_layer() -> type[Any]:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):  # type: ignore[no-untyped-call]
        """Keys and values written into preallocated room, doubled when full."""

        room: Any = None
        keys: Any
        values: Any

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            used = self.get_seq_length()
            end = used + key_states.shape[-2]
            room = self.room
            if room is None or room[0].shape[-2] < end or room[0].shape[0] != key_states.shape[0]:
                shape = (*key_states.shape[:2], max(2 * end, end + 64), key_states.shape[-1])
                grown = (key_states.new_empty(shape), value_states.new_empty(shape))
                if used:
                    grown[0][:, :, :used] = self.keys
                    grown[1][:, :, :used] = self.values
                room = self.room = grown
            room[0][:, :, used:end] = key_states
            room[1][:, :, used:end] = value_states
            self.keys, self.values = room[0][:, :, :end], room[1][:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            end = self.get_seq_length()
            if self.room is not None and end > 0:
                self.room = (self.room[0][indices], self.room[1][indices])
                self.keys, self.values = self.room[0][:, :, :end], self.room[1][:, :, :end]

    return GrowingLayer


def growing_cache() -> Any:
    """A ``DynamicCache`` whose layers write new keys and values into preallocated room
    (doubled when full) instead of concatenating: ``torch.cat`` copied the whole cache at
    every step of every layer."""
    from transformers.cache_utils import Cache, DynamicCache

    cache = DynamicCache()
    Cache.__init__(cache, layer_class_to_replicate=_growing_layer())
    return cache


class _Decoder:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        rows: Sequence[DecodeRow],
        sampling: Sampling,
        prefix_cache: PrefixCache | None,
        use_adapters: bool,
        eos: int,
        pad: int,
        device: str,
        jump_forward: bool,
        router: AdapterRouter | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.rows = list(rows)
        self.sampling = sampling
        self.prefix_cache = prefix_cache
        self.use_adapters = use_adapters
        self.router = router
        self.eos = eos
        self.pad = pad
        self.device = device
        self.stats = DecodeStats(prompt_tokens=sum(len(r.ids) for r in rows))
        self.generator: torch.Generator | None = None
        if sampling.temperature > 0:
            self.generator = torch.Generator(device=device)
            if sampling.seed is not None:
                self.generator.manual_seed(sampling.seed)
            else:
                self.generator.seed()
        self.bitmask: Any = None
        self.forced_ids: dict[str, tuple[list[int], int | None]] = {}
        self.heal: dict[str, bool] = {}
        self.jump_forward = jump_forward

    # -- model calls -------------------------------------------------------------------

    def _forward(
        self,
        chunk: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        adapters: list[str],
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {}
        context: Any = contextlib.nullcontext()
        if self.router is not None:  # adapters stacked (llm._stacked_lora)
            self.router.route([None if a == BASE_ADAPTER else a for a in adapters])
        elif self.use_adapters:
            # One adapter for every row: make it the active one, so peft runs its plain
            # forward; per-row adapter names cost a hook per LoRA layer and call.
            only = set(adapters)
            if only == {BASE_ADAPTER}:
                context = self.model.disable_adapter()
            elif len(only) == 1:
                if self.model.active_adapter != adapters[0]:
                    self.model.set_adapter(adapters[0], inference_mode=True)  # stays frozen
            else:
                kwargs["adapter_names"] = adapters
        with context:
            output = self.model(
                input_ids=chunk.to(self.device),
                attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        logits: torch.Tensor = output.logits[:, -1, :].float()
        return logits

    def _prefix_layers(self, row: DecodeRow) -> list[tuple[Any, Any]] | None:
        row.prefix_len = min(row.prefix_len, len(row.ids) - 1)
        if self.prefix_cache is None or row.prefix_len < MIN_PREFIX:
            return None
        prefix = row.ids[: row.prefix_len]
        key = (row.adapter or BASE_ADAPTER, tuple(prefix))
        layers = self.prefix_cache.get(key)
        if layers is None:
            from transformers import DynamicCache

            cache = DynamicCache()
            n = len(prefix)
            self._forward(
                torch.tensor([prefix]),
                torch.ones(1, n, dtype=torch.long),
                torch.arange(n).unsqueeze(0),
                cache,
                [row.adapter or BASE_ADAPTER],
            )
            self.stats.prefilled_tokens += n
            layers = [(layer.keys, layer.values) for layer in cache.layers]  # type: ignore[union-attr]
            self.prefix_cache.put(key, layers)
        return layers

    # -- the loop ----------------------------------------------------------------------

    def _start_cache(self) -> tuple[Any, list[int], torch.Tensor]:
        """A cache holding each row's cached prefix, right-aligned; the prefix lengths;
        the attention mask over those slots."""
        prefixes = [self._prefix_layers(row) for row in self.rows]
        starts = [row.prefix_len if p else 0 for row, p in zip(self.rows, prefixes, strict=True)]
        width = max(starts)
        cache = growing_cache()
        mask = torch.tensor([[0] * (width - s) + [1] * s for s in starts], dtype=torch.long)
        known = [p for p in prefixes if p]
        if not known:
            return cache, starts, mask
        for layer in range(len(known[0])):
            sample = known[0][layer][0]
            keys, values = [], []
            for start, layers in zip(starts, prefixes, strict=True):
                gap = sample.new_zeros(1, sample.shape[1], width - start, sample.shape[3])
                k, v = layers[layer] if layers else (gap[:, :, :0], gap[:, :, :0])
                keys.append(torch.cat([gap, k], dim=2))
                values.append(torch.cat([gap, v], dim=2))
            cache.update(torch.cat(keys), torch.cat(values), layer)
        return cache, starts, mask

    def run(self) -> DecodeStats:
        rows = self.rows
        cache, starts, mask = self._start_cache()
        # The first chunk: each prompt after its cached prefix, plus forced opening tokens.
        chunks = []
        for row, start in zip(rows, starts, strict=True):
            forced = self._jump_forward(row)
            chunks.append(row.ids[start:] + forced)
            self.stats.prefilled_tokens += len(row.ids) - start
        next_pos = list(starts)
        active = list(range(len(rows)))
        first = True
        while active:
            if not first:
                self.stats.steps += 1
            first = False
            k = max(len(chunks[i]) for i in active)
            chunk = torch.tensor([[self.pad] * (k - len(chunks[i])) + chunks[i] for i in active])
            add = torch.tensor([[0] * (k - len(chunks[i])) + [1] * len(chunks[i]) for i in active])
            positions = torch.tensor(
                [
                    [0] * (k - len(chunks[i]))
                    + list(range(next_pos[i], next_pos[i] + len(chunks[i])))
                    for i in active
                ]
            )
            mask = torch.cat([mask, add], dim=1)
            for i in active:
                next_pos[i] += len(chunks[i])
            logits = self._forward(
                chunk, mask, positions, cache, [rows[i].adapter or BASE_ADAPTER for i in active]
            )
            tokens = self._choose(logits, [rows[i] for i in active])
            still = []
            for slot, (i, token) in enumerate(zip(active, tokens, strict=True)):
                chunks[i] = self._advance(rows[i], token, logits.shape[-1])
                if not rows[i].done:
                    still.append(slot)
            if len(still) < len(active):
                if not still:
                    break
                keep = torch.tensor(still)
                cache.batch_select_indices(keep.to(self.device))
                mask = mask[keep]
                active = [active[s] for s in still]
        return self.stats

    def _choose(self, logits: torch.Tensor, rows: list[DecodeRow]) -> list[int]:
        constrained = [n for n, row in enumerate(rows) if row.matcher is not None]
        if constrained:
            import xgrammar as xgr

            vocab = logits.shape[-1]
            if self.bitmask is None or self.bitmask.shape[0] < len(rows):
                self.bitmask = xgr.allocate_token_bitmask(len(self.rows), vocab)
            for n in constrained:
                rows[n].matcher.fill_next_token_bitmask(self.bitmask, n)
            xgr.apply_token_bitmask_inplace(
                logits,
                self.bitmask[: len(rows)].to(logits.device),
                vocab_size=vocab,
                indices=constrained,
            )
        if self.generator is None:
            return [int(t) for t in logits.argmax(dim=-1)]
        probs = torch.softmax(logits / self.sampling.temperature, dim=-1)
        if self.sampling.top_p < 1.0:
            ordered, order = probs.sort(dim=-1, descending=True)
            outside = ordered.cumsum(dim=-1) - ordered > self.sampling.top_p
            ordered[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, ordered)
        picked = torch.multinomial(probs.to("cpu"), 1, generator=self._cpu_generator())
        return [int(t) for t in picked[:, 0]]

    def _cpu_generator(self) -> torch.Generator:
        assert self.generator is not None
        if self.generator.device.type == "cpu":
            return self.generator
        cpu = torch.Generator()
        cpu.manual_seed(int(torch.randint(0, 2**62, (1,), generator=self.generator)))
        return cpu

    def _advance(self, row: DecodeRow, token: int, vocab: int) -> list[int]:
        """Take ``token`` for ``row``; returns the row's next chunk (the token and any
        tokens the grammar now forces), or marks the row done."""
        if row.done:  # its budget ran out on forced tokens
            return []
        stops = {self.eos} | set(row.matcher.stop_token_ids if row.matcher is not None else ())
        if token in stops or (row.matcher is not None and not row.matcher.accept_token(token)):
            row.done = True
            return []
        row.out.append(token)
        self.stats.new_tokens += 1
        forced = self._jump_forward(row)
        if len(row.out) >= self.sampling.max_new_tokens:
            row.done = True
            return []
        if row.matcher is not None and row.matcher.is_completed() and self._only_stop(row, vocab):
            row.done = True
            return []
        return [token, *forced]

    def _jump_forward(self, row: DecodeRow) -> list[int]:
        """Feed ``row`` the tokens its grammar forces next (within its token budget):
        accepted by the matcher and appended to ``row.out``; returns them."""
        if row.matcher is None or not self.jump_forward:
            return []
        text = row.matcher.find_jump_forward_string()
        if not text:
            return []
        found = self.forced_ids.get(text)
        if found is None:
            found = self.forced_ids[text] = forced_tokens(self.tokenizer, text)
        ids, tail = found
        budget = self.sampling.max_new_tokens - len(row.out)
        accepted = []
        for token in ids[:budget]:
            if not row.matcher.accept_token(token):
                break
            accepted.append(token)
        whole = len(accepted) == len(ids) and len(accepted) < budget
        feed_tail = tail is not None and whole and not self._heal(row, text, tail)
        if feed_tail and tail is not None and row.matcher.accept_token(tail):
            accepted.append(tail)
        row.out.extend(accepted)
        self.stats.new_tokens += len(accepted)
        self.stats.forced_tokens += len(accepted)
        if len(row.out) >= self.sampling.max_new_tokens:
            row.done = True
        return accepted

    def _allowed(self, row: DecodeRow, vocab: int) -> torch.Tensor:
        """A boolean mask of the tokens ``row``'s grammar allows next."""
        import xgrammar as xgr

        mask = xgr.allocate_token_bitmask(1, vocab)
        row.matcher.fill_next_token_bitmask(mask, 0)
        bits = (mask[0].unsqueeze(-1) >> torch.arange(32, dtype=mask.dtype)) & 1
        return bits.flatten()[:vocab].bool()

    def _heal(self, row: DecodeRow, text: str, tail: int) -> bool:
        """Whether to leave ``text``'s last token to the model (token healing): yes when
        the grammar allows a token that extends it. Training tokenized whole answers, in
        which BPE merges a forced boundary with what follows (``'":', ' "+', '0'`` for
        ``": "+0.35``, ``' -'`` for ``": -0.85``); forcing the bare ``' "'`` or ``' '``
        puts the model where it never was, and it wrote ``"neutral"`` for its reasoning
        and ``0.85`` for ``-0.85``. Decided once per forced text, which names the field
        it opens."""
        decided = self.heal.get(text)
        if decided is None:
            extends = _extensions(self.tokenizer, tail)
            allowed = self._allowed(row, int(self.model.config.vocab_size))[: len(extends)]
            decided = self.heal[text] = bool((allowed & extends[: len(allowed)]).any())
        return decided

    def _only_stop(self, row: DecodeRow, vocab: int) -> bool:
        """True when the grammar allows nothing but a stop token: the answer is whole."""
        allowed = self._allowed(row, vocab).nonzero().flatten().tolist()
        stops = set(row.matcher.stop_token_ids) | {self.eos}
        return all(token in stops for token in allowed)


def decode(
    model: Any,
    tokenizer: Any,
    rows: Sequence[DecodeRow],
    sampling: Sampling,
    *,
    eos: int,
    pad: int,
    device: str = "cpu",
    prefix_cache: PrefixCache | None = None,
    use_adapters: bool = False,
    jump_forward: bool = True,
    router: AdapterRouter | None = None,
) -> DecodeStats:
    """Generate for every row (in place: ``row.out``); returns the call's figures.
    ``prefix_cache=None`` runs every prompt whole; ``jump_forward=False`` decodes forced
    tokens one step at a time (for measuring the grammar's own cost). Rows name their
    adapters either to ``router`` (adapters stacked by ``llm._stacked_lora``) or, with
    ``use_adapters``, to peft."""
    decoder = _Decoder(
        model,
        tokenizer,
        rows,
        sampling,
        prefix_cache,
        use_adapters,
        eos,
        pad,
        device,
        jump_forward,
        router,
    )
    with torch.inference_mode():
        return decoder.run()
