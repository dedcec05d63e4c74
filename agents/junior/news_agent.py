"""The user's guide imports the news agent as ``agents.junior.news_agent`` ("Load for
inference", run from the repository root); the code lives in ``stockagents.agents``."""

from stockagents.agents import NewsAgent

__all__ = ["NewsAgent"]
