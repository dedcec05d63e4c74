"""Train the strategist with PPO on realised, cost-aware rewards (the guide's step 2.3).

    python training/rl/train_strategist_ppo.py --config config/rl/ppo_config.yaml \
        --iterations 100

(flags: --output-dir, --sft-checkpoint, --experience-library, --resume auto|PATH|none)
"""

import sys

from stockagents.cli.rl import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], algorithm="ppo"))
