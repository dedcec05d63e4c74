"""The ``stockagents`` command line: one module per verb, errors turned into one line."""
