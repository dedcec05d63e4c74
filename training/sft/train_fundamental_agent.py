"""Train the fundamental agent's LoRA adapter by supervised fine-tuning.

Run: python training/sft/train_fundamental_agent.py --config config/sft/fundamental_agent.yaml
(flags: --max-steps, --output-dir, --dataset-path, --base-model, --resume auto|PATH|none)
"""

import sys

from stockagents.cli.sft import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], agent="fundamental"))
