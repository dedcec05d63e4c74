"""Export: a merged tiny adapter round-trips through onnxruntime (ONNX) and through
transformers (GGUF, f16 and q8_0), and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from stockagents.cli.main import main
from stockagents.core.errors import ExportError
from stockagents.export.onnx import export_onnx
from stockagents.export.source import load_merged
from tests.helpers import make_tiny_adapter


@pytest.mark.slow
def test_a_merged_adapter_exports_and_answers_as_the_model(tmp_path: Path) -> None:
    adapter = make_tiny_adapter(tmp_path / "technical", seed=3, agent="technical")
    out = tmp_path / "export" / "technical.onnx"
    manifest = export_onnx(adapter, out)
    assert manifest.check.max_logit_difference < 1e-4
    assert manifest.check.greedy_identical is True
    assert manifest.source.adapter == str(adapter)
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
    with pytest.raises(ExportError, match=r"name a \.onnx file"):
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


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_gguf_round_trips_through_transformers(tmp_path: Path, outtype: str) -> None:
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    from stockagents.export.gguf import export_gguf

    adapter = make_tiny_adapter(tmp_path / "technical", seed=3, agent="technical")
    out = tmp_path / "export" / "technical.gguf"
    manifest = export_gguf(adapter, out, outtype=outtype)
    assert manifest.check.greedy_identical is True
    assert manifest.check.tokenizer_identical is True
    reader = GGUFReader(str(out))
    assert reader.fields["general.architecture"].contents() == "llama"
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == outtype.upper()
    assert kinds["blk.0.attn_norm.weight"] == "F32"
    # loaded back independently, it gives the merged model's logits (up to rounding)
    merged, _, _ = load_merged(adapter)
    loaded = AutoModelForCausalLM.from_pretrained(str(out.parent), gguf_file=out.name)
    ids = torch.randint(0, 200, (1, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = merged(input_ids=ids, use_cache=False).logits
        b = loaded(input_ids=ids, use_cache=False).logits
    assert float((a - b).abs().max()) < (5e-3 if outtype == "f16" else 5e-2)
    assert torch.equal(a.argmax(-1), b.argmax(-1))


def test_the_q8_0_check_reads_agreement_and_near_ties() -> None:
    from stockagents.export.gguf import _agreement

    ours = torch.tensor([[4.0, 0.0, -4.0], [1.0, 0.98, -2.0], [0.0, 3.0, -3.0]])
    same, worst = _agreement(ours, ours + 0.01)
    assert (same, worst) == (1.0, 0.0)
    flipped = ours.clone()
    flipped[1] = torch.tensor([0.9, 1.0, -2.0])  # a near tie flips: 0.02 below the best
    same, worst = _agreement(ours, flipped)
    assert same == pytest.approx(2 / 3)
    assert worst == pytest.approx(0.02 / float(ours[1].std()))
    wrong = ours.clone()
    wrong[0] = torch.tensor([0.0, 0.0, 9.0])  # a pick the model ranks far below its best
    assert _agreement(ours, wrong)[1] > 1.0


@pytest.mark.slow
def test_a_broken_q8_0_export_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockagents.export import gguf

    monkeypatch.setattr(gguf, "_permute", lambda weights, heads: weights)  # llama.cpp's layout lost
    adapter = make_tiny_adapter(tmp_path / "technical", seed=3, agent="technical")
    out = tmp_path / "export" / "technical.gguf"
    with pytest.raises(ExportError, match=r"the q8_0 GGUF file does not read as the model"):
        gguf.export_gguf(adapter, out, outtype="q8_0")
    assert not out.exists()


def test_gguf_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stockagents.export.gguf import export_gguf

    with pytest.raises(ExportError, match=r"name a \.gguf file"):
        export_gguf("tiny", tmp_path / "x.bin")
    with pytest.raises(ExportError, match="use f16 or q8_0"):
        export_gguf("tiny", tmp_path / "x.gguf", outtype="q4")
    assert (
        main(
            [
                "export-gguf",
                "--model-path",
                str(tmp_path / "no"),
                "--output-path",
                str(tmp_path / "x.gguf"),
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.strip().startswith("error: --model-path")
