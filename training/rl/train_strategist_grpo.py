"""Train the strategist with GRPO on realised, cost-aware rewards (the guide's step 2.3).

    python training/rl/train_strategist_grpo.py --config config/rl/grpo_config.yaml \
        --iterations 100

(flags: --output-dir, --sft-checkpoint, --experience-library, --resume auto|PATH|none)
"""

import sys

from stockagents.cli.rl import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], algorithm="grpo"))
