"""Serving: the HTTP API (FastAPI). ``create_app`` builds it; ``stockagents serve`` runs it."""
