"""Export a model to GGUF for llama.cpp (the user's guide, "Export for Serving").

    python scripts/convert_to_gguf.py --model-path models/production/news \
        --output-path models/export/news.gguf [--outtype q8_0]

The adapter is merged into its base; the file is checked by loading it back through
transformers (tokenizer and greedy tokens identical). A thin wrapper over ``stockagents
export-gguf``.
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["export-gguf", *sys.argv[1:]]))
