"""Language-model backends behind one interface (``llm.base.Backend``): local Hugging Face
models (``hf_backend``, with its decoding loop, grammar and adapter stacking private to
this package), the OpenAI and Anthropic APIs, and the named presets (``presets``), among
them the ``tiny`` test model built here."""
