"""ONNX export: a merged tiny adapter round-trips through onnxruntime, and bad input is
one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from stockagents.cli.main import main
from stockagents.core.errors import ExportError
from stockagents.export.onnx import export_onnx, load_merged
from tests.helpers import make_tiny_adapter


@pytest.mark.slow
def test_a_merged_adapter_exports_and_answers_as_the_model(tmp_path: Path) -> None:
    adapter = make_tiny_adapter(tmp_path / "technical", seed=3, agent="technical")
    out = tmp_path / "export" / "technical.onnx"
    manifest = export_onnx(adapter, out)
    assert manifest["check"]["max_logit_difference"] < 1e-4
    assert manifest["check"]["greedy_identical"] is True
    assert manifest["source"]["adapter"] == str(adapter)
    assert json.loads((tmp_path / "export" / "technical.onnx.json").read_text())["file"] == out.name
    assert (tmp_path / "export" / "technical_tokenizer" / "tokenizer_config.json").is_file()
    # independently: a batch of two rows of another length gives the merged model's logits
    model, _, _ = load_merged(adapter)
    ids = torch.randint(0, 200, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(input_ids=ids, use_cache=False).logits.numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(
        ["logits"], {"input_ids": ids.numpy(), "attention_mask": np.ones((2, 7), dtype=np.int64)}
    )[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # the adapter really is in the file: the bare base answers differently
    base, _, _ = load_merged("tiny")
    with torch.no_grad():
        bare = base(input_ids=ids, use_cache=False).logits.numpy()
    assert np.abs(bare - got).max() > 1e-3


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExportError, match="not a model directory or a preset"):
        export_onnx(tmp_path / "nope", tmp_path / "x.onnx")
    with pytest.raises(ExportError, match=r"name an \.onnx file"):
        export_onnx("tiny", tmp_path / "x.bin")
    api = tmp_path / "api"
    api.mkdir()
    (api / "manifest.json").write_text(json.dumps({"kind": "openai", "model": "m"}))
    with pytest.raises(ExportError, match="a openai model cannot be exported"):
        export_onnx(api, tmp_path / "x.onnx")
    code = main(
        [
            "export-onnx",
            "--model-path",
            str(tmp_path / "nope"),
            "--output-path",
            str(tmp_path / "x.onnx"),
        ]
    )
    assert code == 1
    assert capsys.readouterr().err.strip().startswith("error: --model-path")
