"""Export a model to ONNX (the user's guide, "Export for Serving").

    python scripts/convert_to_onnx.py --model-path models/production/news \
        --output-path models/export/news.onnx

The adapter is merged into its base; the file is checked with onnxruntime against the
model (logits within 1e-4, greedy tokens identical). A thin wrapper over ``stockagents
export-onnx``.
"""

from __future__ import annotations

import sys

from stockagents.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["export-onnx", *sys.argv[1:]]))
