"""Training of the agents' models: synthetic data, supervised fine-tuning, RL.

Each stage is a subpackage with its own typed config; nothing here is imported by the
analysis system at run time (it loads the artifacts these stages write).
"""
