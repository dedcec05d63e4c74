"""``agents.junior.fundamental_agent``, beside the guide's ``agents.junior.news_agent``;
the code lives in ``stockagents.agents``."""

from stockagents.agents import FundamentalAgent

__all__ = ["FundamentalAgent"]
