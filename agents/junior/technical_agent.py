"""``agents.junior.technical_agent``, beside the guide's ``agents.junior.news_agent``;
the code lives in ``stockagents.agents``."""

from stockagents.agents import TechnicalAgent

__all__ = ["TechnicalAgent"]
