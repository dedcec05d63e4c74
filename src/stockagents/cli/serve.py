"""``stockagents serve``: the HTTP API on uvicorn (docs at ``http://HOST:PORT/docs``)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from stockagents.cli.options import ConfigOption, ModelsOption, model_set
from stockagents.core.errors import ProviderUnavailableError

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    models: ModelsOption = None,
    config: ConfigOption = None,
    max_backtest_days: Annotated[
        int, typer.Option("--max-backtest-days", help="Largest POST /backtest window.")
    ] = 260,
) -> None:
    """Serve the agents over HTTP: /health, /models, /analyze, /backtest, /docs."""
    for package in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(package) is None:
            raise ProviderUnavailableError(
                f"the HTTP API needs {package}: pip install -r requirements.txt"
            )
    import uvicorn

    from stockagents.serving.app import create_app

    app = create_app(config, models=model_set(models), max_backtest_days=max_backtest_days)
    uvicorn.run(app, host=host, port=port, log_level="info")
