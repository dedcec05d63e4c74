"""Synthetic inputs for training examples: news days, company profiles and the samplers."""
