"""Run the SFT pipeline (the user's guide, step 1.1): data, training, evaluation.

    python scripts/run_sft_training.py --num-examples 100 --max-steps 500 \
        --provider openai --model gpt-4o

Offline, ``--provider expert`` (the default) distils the rule-based agents. Writes
``training_runs/sft_run_YYYYMMDD_HHMMSS/{data,models}``. A thin wrapper over
``stockagents run-sft`` (``stockagents run-sft --help`` lists every option).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run-sft", *sys.argv[1:]]))
