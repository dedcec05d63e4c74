"""Measuring results: the one metrics module, plots and reports."""
