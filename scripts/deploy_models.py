"""Deploy models to production (the user's guide, step 4.1).

    python scripts/deploy_models.py \
      --models news:training_runs/sft_run_X/models/news_agent/final \
               technical:training_runs/sft_run_X/models/technical_agent/final \
               fundamental:training_runs/sft_run_X/models/fundamental_agent/final \
               strategist:training_runs/rl_grpo_run_X/models/final \
      --min-sharpe 0.5

Validates (an evaluation of this set that meets the criteria), backs up production to
``models/backups/backup_YYYYMMDD_HHMMSS/``, installs into ``models/production/``
atomically, verifies and rolls back on failure. A thin wrapper over ``stockagents
deploy`` (``--help`` lists every option). ``ModelDeployer`` is importable from here, as
in the guide's rollback snippet (``from scripts.deploy_models import ModelDeployer``).
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main
from stockagents.deployment import ModelDeployer

__all__ = ["ModelDeployer"]

if __name__ == "__main__":
    sys.exit(main(["deploy", *sys.argv[1:]]))
