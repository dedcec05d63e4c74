"""Run the whole pipeline of the user's guide: data, SFT of every agent, trajectories, RL
of the strategist, evaluation of baseline vs SFT vs RL, and gated deployment.

    python scripts/run_complete_training.py --sft-examples 100 --rl-trajectories 500 \
        --rl-iterations 100 --algorithm grpo

Writes ``training_runs/complete_run_YYYYMMDD_HHMMSS/`` (``summary.md``); ``--resume DIR``
continues a run, ``--profile tiny|cpu|gpu`` (or ``STOCKAGENTS_PROFILE``) sizes it. A thin
wrapper over ``stockagents run-complete`` (``--help`` lists every option).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run-complete", *sys.argv[1:]]))
