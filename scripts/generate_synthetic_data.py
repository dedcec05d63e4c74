"""Generate synthetic training data for one agent (the user's guide, step 1.2).

    python scripts/generate_synthetic_data.py --agent-type news --num-examples 100 \
        --output data/training/news_train.jsonl --provider openai --model gpt-4o

A thin wrapper over ``stockagents datagen``; ``--provider expert`` (the default) needs no
key. Every option of that command works here (``stockagents datagen --help``).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["datagen", *sys.argv[1:]]))
