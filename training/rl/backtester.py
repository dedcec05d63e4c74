"""Collect trajectories by backtesting (the user's guide, step 2.2).

    python training/rl/backtester.py --symbols AAPL MSFT GOOGL AMZN TSLA \
        --start-date 2023-01-01 --end-date 2023-12-31

A thin wrapper over ``stockagents collect``; every option of that command works here
(``stockagents collect --help``).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["collect", *sys.argv[1:]]))
