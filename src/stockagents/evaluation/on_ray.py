"""Evaluation on Ray: the analysts' answers of a model set, fanned out by date block.

One book holds every symbol of a backtest, so a step's strategist reads what the steps
before it did to the book (cash, the position and its value), across symbols: the
backtest, the strategists and the book stay in this process, in order. The analysts read
no book: what they answer at a step depends only on what the step's observation holds. So
``RayAnalysts`` answers them ahead, on Ray: the backtest's plan (``backtest_plan``: every
(symbol, day) step, day by day) is cut into blocks of ``coordinator.batch_steps`` steps,
the batches in which the serial backtest asks them (``AnalystsAhead``), several blocks to
a task; each task builds the set's agents once per worker process (``SystemCoordinator``
with the same config, data and model set) and answers each block in one batch. The
answers go into the run's ``shared`` answers, by (agent identity, observation), where the
serial backtest then finds every one of them (``AgentTeam.analyze``) and asks only the
strategist. An analyst another set already answered on Ray (the RL set's SFT analysts) is
not asked again.

The results are those of the serial backend: an answer is the same whichever process
computes it, as long as it does not depend on the other rows of its batch (the rules;
models in float32, such as the ``tiny`` preset, or with ``quantization: none``) or the
blocks are the serial batches (they are, unless cached steps or the model strategist's
answers ahead start a serial batch mid-block). If a worker's agents differ from this
process's (another ``identity``: a model path missing on a node), their answers are not
found and the backtest asks the analysts itself: slower, never different. A task whose
worker dies is run again; its answers land in a dict, so nothing is duplicated.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.progress import Progress

from stockagents.agents.answering import Answered
from stockagents.agents.team import SharedAnswers
from stockagents.backtest.on_ray import run_on_ray
from stockagents.core.config import load_config
from stockagents.core.types import Signal
from stockagents.data.factory import build_sources
from stockagents.evaluation.model_sets import ModelSet
from stockagents.orchestration import SystemCoordinator

__all__ = ["RayAnalysts", "answer_blocks"]

logger = logging.getLogger(__name__)

Step = tuple[str, dt.date]
Block = list[tuple[str, str]]  # (symbol, ISO day) steps answered in one batch
Keyed = list[tuple[tuple[str, str], Answered[Signal]]]

#: Tasks per CPU the blocks are spread over (a few, so that a slow task does not leave
#: the other CPUs idle at the end).
TASKS_PER_CPU = 3

_WORKER: dict[str, SystemCoordinator] = {}  # one set's agents per worker process


def _payload(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)


def _portable(answer: Answered[Signal]) -> Answered[Signal]:
    """The answer with what the agent read held as data (its reader is a closure over the
    agent and its models, which stay in the worker)."""
    return dataclasses.replace(answer, reader=functools.partial(_payload, answer.payload()))


def _coordinator(config_json: str, models: str) -> SystemCoordinator:
    key = f"{config_json}|{models}"
    if key not in _WORKER:
        _WORKER.clear()  # the previous set's models are not needed again
        config = load_config(json.loads(config_json))
        # as run_model_set builds it: the same config, data and model set
        _WORKER[key] = SystemCoordinator(config, sources=build_sources(config.data), models=models)
    return _WORKER[key]


def answer_blocks(
    config_json: str, models: str, blocks: list[Block], skip: list[str]
) -> tuple[int, Keyed]:
    """The answers of the analysts (those whose identity is not in ``skip``) for each of
    ``blocks``, one batch a block, keyed as ``SharedAnswers``, and the steps the blocks
    hold (runs in a Ray worker)."""
    coordinator = _coordinator(config_json, models)
    steps = sum(len(block) for block in blocks)
    team = coordinator.team
    analysts = {n: a for n, a in team.analysts.items() if a.identity not in skip}
    if not analysts:
        return steps, []
    asked = dataclasses.replace(team, analysts=analysts, stats=Counter())
    parallel = coordinator.config.coordinator.parallel
    out: Keyed = []
    for block in blocks:
        observations = [coordinator.observe(s, dt.date.fromisoformat(d)) for s, d in block]
        found: SharedAnswers = {}
        asked.analyze(observations, parallel=parallel, shared=found)
        out.extend((key, _portable(answer)) for key, answer in found.items())
    return steps, out


class RayAnalysts:
    """``run_model_set``'s ``prefill``: a set's analysts answered on Ray (module
    docstring), with a line on ``bar`` per set over its steps; ``answers`` counts the
    answers that came from Ray."""

    def __init__(self, workers: int, bar: Progress | None = None) -> None:
        self.workers = workers
        self.bar = bar
        self.done: set[str] = set()  # analysts (identities) answered on Ray already
        self.answers = 0

    def blocks(self, coordinator: SystemCoordinator, plan: Sequence[Step]) -> list[Block]:
        """``plan`` cut into the batches of ``batch_steps`` steps the analysts answer in."""
        size = coordinator.config.coordinator.batch_steps
        steps = [(symbol, day.isoformat()) for symbol, day in plan]
        return [steps[i : i + size] for i in range(0, len(steps), size)]

    def __call__(
        self,
        models: ModelSet,
        coordinator: SystemCoordinator,
        plan: Sequence[Step],
        shared: SharedAnswers,
    ) -> None:
        identities = {agent.identity for agent in coordinator.analysts.values()}
        if identities <= self.done or not plan:
            return
        blocks = self.blocks(coordinator, plan)
        per_task = max(1, math.ceil(len(blocks) / (TASKS_PER_CPU * self.workers)))
        config_json = coordinator.config.model_dump_json()
        skip = sorted(self.done)
        calls = [
            (config_json, str(models.models_dir), blocks[i : i + per_task], skip)
            for i in range(0, len(blocks), per_task)
        ]
        foreign = 0
        line = (
            self.bar.add_task(f"{models.name}: analysts on Ray", total=len(plan))
            if self.bar
            else None
        )
        for steps, found in run_on_ray(answer_blocks, calls, self.workers):
            for key, answer in found:
                foreign += key[0] not in identities
                shared.setdefault(key, answer)
            self.answers += len(found)
            if self.bar is not None and line is not None:
                self.bar.advance(line, steps)
        if foreign:
            logger.warning(
                "%d analyst answers from Ray came from other agents than this process's "
                "(a model path that differs on a node?): the backtest asks them here",
                foreign,
            )
        self.done |= identities
