"""Deployment: gated installs of model sets into production, with backup, verification and
rollback (``ModelDeployer``). The on-disk format is ``stockagents.core.registry``'s."""

from stockagents.deployment.deployer import STEPS, ModelDeployer

__all__ = ["STEPS", "ModelDeployer"]
