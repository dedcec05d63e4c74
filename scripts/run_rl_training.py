"""Run the RL pipeline (the user's guide, step 2.1): trajectories, GRPO or PPO, validation.

    python scripts/run_rl_training.py --num-trajectories 500 --num-iterations 100 \
        --algorithm grpo --symbols AAPL MSFT GOOGL AMZN TSLA

Writes ``training_runs/rl_<algo>_run_YYYYMMDD_HHMMSS/`` (``experience_library.db``,
``models/``, ``report.md``). A thin wrapper over ``stockagents run-rl`` (``--help`` lists
every option).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run-rl", *sys.argv[1:]]))
