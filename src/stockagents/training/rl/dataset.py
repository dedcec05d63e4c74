"""The strategist's RL prompts, built from an experience library.

Each decision step of the train (or validation) segment becomes one example: the chat
messages the strategist was shown in that step (the analysts' signals as the analysts
produced them, market and portfolio context) and, as labels the model never sees, the
bars that followed: the next ``MAX_HORIZON`` opens, highs, lows and closes from the price
source of the collection. Rows without a complete path (the end of the data) are left
out, so every reward is computed on a whole horizon.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.core.config import AppConfig
from stockagents.core.errors import DataError, UnknownSymbolError
from stockagents.data.factory import build_sources

__all__ = ["RLExample", "load_rl_examples", "write_examples"]

logger = logging.getLogger(__name__)

#: Bars after the decision kept with each example: the answer schema's longest horizon.
MAX_HORIZON = 20


@dataclass(frozen=True)
class RLExample:
    """One strategist prompt and what followed it."""

    prompt: list[dict[str, str]]
    symbol: str
    as_of: str
    segment: str
    close: float
    atr_pct: float | None
    opens: list[float]
    highs: list[float]
    lows: list[float]
    closes: list[float]
    collected_action: str
    collected_output: str
    collected_reward: float | None

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _path(bars: pd.DataFrame, day: dt.date) -> dict[str, Any] | None:
    """The close at ``day`` and the next ``MAX_HORIZON`` bars (None when cut short)."""
    pos = int(bars.index.searchsorted(pd.Timestamp(day), side="right")) - 1
    after = bars.iloc[pos + 1 : pos + 1 + MAX_HORIZON]
    if pos < 0 or len(after) < MAX_HORIZON:
        return None
    return {
        "close": float(bars["close"].iloc[pos]),
        "opens": [float(v) for v in after["open"]],
        "highs": [float(v) for v in after["high"]],
        "lows": [float(v) for v in after["low"]],
        "closes": [float(v) for v in after["close"]],
    }


def load_rl_examples(
    library: str | Path,
    config: AppConfig,
    segments: Sequence[str] = ("train",),
    run_id: str | None = None,
) -> dict[str, list[RLExample]]:
    """Examples per segment from the library at ``library`` (a file or a database URL).

    ``config`` names the price source the steps were collected on (the labels come from
    it). Steps without a segment (a collection too short to split) are train examples.
    """
    lib = ExperienceLibrary(library)
    try:
        frame = lib.frame(run_id=run_id)
    finally:
        lib.close()
    if frame.empty:
        raise DataError(f"experience library {library}: no steps; collect trajectories first")
    prices = build_sources(config.data).prices
    bars: dict[str, pd.DataFrame] = {}
    out: dict[str, list[RLExample]] = {s: [] for s in segments}
    skipped = 0
    for row in frame.to_dict("records"):
        segment = str(row["segment"] or "train")
        if segment not in out:
            continue
        symbol = str(row["symbol"])
        if symbol not in bars:
            try:
                bars[symbol] = prices.prices(symbol, as_of=prices.date_range(symbol)[1])
            except UnknownSymbolError:
                raise DataError(
                    f"experience library {library}: {symbol} is not in the {prices.name} "
                    "price source; pass the config the trajectories were collected with"
                ) from None
        agents: dict[str, Any] = row["agents"]
        strategist = agents.get("strategist")
        path = _path(bars[symbol], row["as_of"])
        if strategist is None or path is None:
            skipped += 1
            continue
        payload = json.loads(strategist["payload"])
        market = payload.get("market") or {}
        out[segment].append(
            RLExample(
                prompt=json.loads(strategist["prompt"]),
                symbol=symbol,
                as_of=row["as_of"].isoformat(),
                segment=segment,
                atr_pct=market.get("atr_pct"),
                collected_action=str(row["action"]),
                collected_output=str(strategist.get("output", "")),
                collected_reward=None if pd.isna(row["reward"]) else float(row["reward"]),
                **path,
            )
        )
    if skipped:
        logger.info("%d step(s) without a strategist prompt or a whole horizon: left out", skipped)
    return out


def write_examples(path: Path, examples: Sequence[RLExample]) -> None:
    """Examples as JSONL (a record of what a run trained on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example.record()) + "\n")
