"""Evaluate model sets on the test segment (the user's guide, step 3.1).

    python scripts/evaluate_models.py \
      --models baseline:models/baseline sft:training_runs/sft_run_X/models \
               rl:training_runs/rl_grpo_run_X/models \
      --test-symbols AAPL MSFT GOOGL AMZN TSLA --test-days 90

Writes ``evaluation_results/eval_YYYYMMDD_HHMMSS/`` (``evaluation_report.md``,
``comparison_plots.png``, ``evaluation_results.json``). A thin wrapper over
``stockagents evaluate`` (``--help`` lists every option).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
