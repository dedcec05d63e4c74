"""End-to-end runs of the guide: SFT, RL, the complete pipeline."""
