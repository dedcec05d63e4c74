"""``stockagents serve``: the HTTP API on uvicorn (docs at ``http://HOST:PORT/docs``).

Safe by default: a ``--host`` other than a loopback address (127.0.0.0/8, ::1,
localhost) needs ``STOCKAGENTS_API_KEY``, or ``--insecure-no-auth`` to serve an open API
anyway (``serving._guards.check_bind``). The limits are refused below 1, in one line.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from stockagents.cli.options import ConfigOption, ModelsOption, model_set
from stockagents.core.packages import REQUIREMENTS_INSTALL, require_packages

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Interface to listen on. Other than loopback, STOCKAGENTS_API_KEY is needed "
            "(or --insecure-no-auth).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    models: ModelsOption = None,
    config: ConfigOption = None,
    max_backtest_days: Annotated[
        int, typer.Option("--max-backtest-days", help="Largest POST /backtest window (>= 1).")
    ] = 260,
    max_concurrent_backtests: Annotated[
        int,
        typer.Option(
            "--max-concurrent-backtests",
            help="Backtests run at once (>= 1); one more is a 503 with Retry-After.",
        ),
    ] = 1,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve on a non-loopback --host without an API key (anyone who can reach "
            "it can use it).",
        ),
    ] = False,
) -> None:
    """Serve the agents over HTTP: /health, /models, /analyze, /backtest, /docs."""
    require_packages("fastapi", "uvicorn", needed_by="the HTTP API", install=REQUIREMENTS_INSTALL)
    import uvicorn

    from stockagents.core.settings import load_settings
    from stockagents.serving.app import check_bind, create_app

    secret = load_settings().stockagents_api_key
    api_key = secret.get_secret_value() if secret is not None else ""
    warning = check_bind(host, api_key_set=bool(api_key), insecure_no_auth=insecure_no_auth)
    app = create_app(
        config,
        models=model_set(models),
        api_key=api_key,
        max_backtest_days=max_backtest_days,
        max_concurrent_backtests=max_concurrent_backtests,
    )
    if warning:
        logger.warning(warning)
    uvicorn.run(app, host=host, port=port, log_level="info")
