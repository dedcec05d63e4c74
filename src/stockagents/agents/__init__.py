"""The analysts (news, technical, fundamental) and the strategist.

Each agent turns an ``Observation`` into a ``Signal`` (analysts) or a ``Decision``
(strategist). Without a model path the deterministic expert rules run: they are the
baseline and the offline teacher.
"""

from __future__ import annotations

from stockagents.agents.fundamental import FundamentalAgent
from stockagents.agents.news import NewsAgent
from stockagents.agents.strategist import StrategistAgent
from stockagents.agents.technical import TechnicalAgent

__all__ = ["FundamentalAgent", "NewsAgent", "StrategistAgent", "TechnicalAgent"]
