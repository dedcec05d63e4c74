"""llama.cpp runs the exported GGUF (f16 and q8_0), through ``llama-cpp-python``: it reads a
real agent prompt into the merged model's token ids and answers it greedily as the merged
model does; its OpenAI-compatible server (``python -m llama_cpp.server``) serves the
exported agent on loopback, and the strategist answers through our ``openai`` backend with
schema-constrained output, valid every time.

The model is a tiny adapter with random weights: its top logits are near ties (top-two
margins down to 2e-4), so beyond the exact token ids the comparison states what rounding
allows: along llama.cpp's greedy path its logits are the merged model's within a tolerance,
so each token it picks is the merged model's pick or ties with it at that precision. The
f16 answer is also identical token for token (32 of 32; on 20 strategist prompts, 15 of 20
are); q8_0's rounding is larger than this model's first near tie (it follows the merged
model for 3 tokens here). ``bench/llamacpp.py`` measures both on SmolLM2-135M, a real
model.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from stockagents.agents import StrategistAgent, TechnicalAgent
from stockagents.agents.answering import Question, answer_all
from stockagents.agents.prompting import answer_schema, render_prompt
from stockagents.core.errors import BackendError
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import NoNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.export.gguf import export_gguf
from stockagents.export.source import load_merged
from stockagents.features.observation import ObservationBuilder
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.openai_backend import OpenAIBackend, enumerated_schema
from tests.fake_api import FakeServer, Reply, openai_error
from tests.helpers import make_tiny_adapter

OUTTYPES = ("f16", "q8_0")
#: Greedy tokens compared (the same max tokens on both sides).
TOKENS = 32
#: Largest logit difference allowed along the greedy path (measured on this prompt: 1.3e-3
#: and 2.2e-2; on 20 strategist prompts at most 2.1e-3 and 2.9e-2).
TOLERANCE = {"f16": 1e-2, "q8_0": 1e-1}
SYMBOLS = ("AAPL", "AMZN", "NVDA", "GOOG")


def _questions(n: int) -> list[Question]:
    """``n`` strategist questions from the price sample, with the technical rules' signal."""
    builder = ObservationBuilder(
        DataSources(SamplePriceProvider(), NoNewsProvider(), NoFundamentalsProvider())
    )
    technical = TechnicalAgent()
    out = []
    for i in range(n):
        day = dt.date(2023, 3, 1) + dt.timedelta(days=7 * i)
        observation = builder.build(SYMBOLS[i % len(SYMBOLS)], day)
        out.append(Question(observation, {"technical": technical.expert_signal(observation)}))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """A strategist adapter on the tiny preset and its GGUF exports."""
    pytest.importorskip("llama_cpp")
    root = tmp_path_factory.mktemp("llamacpp")
    adapter = make_tiny_adapter(root / "strategist", seed=3, agent="strategist")
    files = {}
    for outtype in OUTTYPES:
        files[outtype] = root / "export" / f"strategist-{outtype}.gguf"
        export_gguf(adapter, files[outtype], outtype=outtype)
    return adapter, files


def _llama_greedy(llm: Any, ids: list[int], tokens: int) -> tuple[list[int], np.ndarray]:
    """llama.cpp's greedy tokens after ``ids`` and its logits before each of them."""
    out: list[int] = []
    for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        out.append(int(token))
        if len(out) == tokens:
            break
    logits = np.array(llm.scores[len(ids) - 1 : len(ids) - 1 + tokens])
    return out, logits


@pytest.mark.slow
@pytest.mark.parametrize("outtype", OUTTYPES)
def test_llama_cpp_answers_an_agent_prompt_as_the_merged_model(
    exported: tuple[Path, dict[str, Path]], outtype: str
) -> None:
    import llama_cpp

    adapter, files = exported
    model, tokenizer, _ = load_merged(adapter)
    strategist = StrategistAgent()
    question = _questions(1)[0]
    payload = strategist.input_payload(question.observation, question.signals or {})
    messages = render_prompt("strategist", payload)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        generated = model.generate(
            torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False,
            eos_token_id=None, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
    merged = [int(t) for t in generated[0, len(ids) :]]

    llm = llama_cpp.Llama(
        model_path=str(files[outtype]), n_ctx=1024, n_threads=2, logits_all=True, seed=0,
        verbose=False,
    )  # fmt: skip
    try:
        # the tokenizer in the file reads the prompt (special tokens, digits, "'s") the same
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids
        tokens, theirs = _llama_greedy(llm, ids, TOKENS)
    finally:
        llm.close()
    with torch.no_grad():  # the merged model's logits along llama.cpp's path
        ours = model(input_ids=torch.tensor([ids + tokens[:-1]])).logits[0, len(ids) - 1 :]
    ours_np = ours.numpy()
    difference = float(np.abs(theirs - ours_np).max())
    assert difference < TOLERANCE[outtype]
    # each token llama.cpp picks is the merged model's pick, or ties with it within rounding
    best = ours_np.max(axis=1)
    picked = ours_np[np.arange(TOKENS), tokens]
    assert np.all(best - picked <= 2 * difference)
    # token for token: the merged model's own greedy answer, up to its first near tie
    top2 = np.sort(ours_np, axis=1)[:, -2:]
    near = np.flatnonzero(top2[:, 1] - top2[:, 0] <= 2 * difference)
    decided = int(near[0]) if near.size else TOKENS
    assert tokens[:decided] == merged[:decided]
    if outtype == "f16":
        assert tokens == merged  # all 32 (measured); q8_0 parts at its first near tie


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def llama_server(
    request: pytest.FixtureRequest, exported: tuple[Path, dict[str, Path]], tmp_path: Path
) -> Iterator[str]:
    """``python -m llama_cpp.server`` on loopback serving one export; its base URL."""
    outtype: str = request.param
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(exported[1][outtype]),
        "--model_alias", "strategist", "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", "2",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                    assert json.load(reply)["data"][0]["id"] == "strategist"
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not answer /v1/models within 60 s")
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("llama_server", OUTTYPES, indirect=True)
def test_an_exported_agent_answers_through_the_llama_cpp_server(
    llama_server: str, tmp_path: Path
) -> None:
    served = tmp_path / "strategist"
    served.mkdir()
    manifest = {"kind": "openai", "model": "strategist", "base_url": llama_server,
                "agent": "strategist"}  # fmt: skip
    (served / "manifest.json").write_text(json.dumps(manifest))
    strategist = StrategistAgent(model_path=served)
    assert strategist.runtime is not None
    assert isinstance(strategist.runtime.backend, OpenAIBackend)
    try:
        answers = answer_all([(strategist, q) for q in _questions(20)])
    finally:
        strategist.runtime.backend.close()
    assert [a.completion.source for a in answers] == ["model"] * 20
    # 100% valid at the first answer: no repair round, no fallback
    assert strategist.stats["strategist.valid"] == 20
    assert all(a.completion.valid and not a.completion.repaired for a in answers)
    assert all(a.result.valid for a in answers)
    for answer in answers:
        data = json.loads(answer.completion.text, strict=False)
        assert list(data) == list(answer_schema("strategist")["properties"])


def test_a_server_refusing_json_schema_gets_json_object(server: FakeServer) -> None:
    """What llama-cpp-python's server says to json_schema, and what it is asked next."""
    refusal = openai_error(
        "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}"
    )
    server.plan(Reply(500, {}, refusal))
    backend = server.keep(OpenAIBackend("strategist", base_url=server.openai_url, max_retries=0))
    schema = answer_schema("strategist")
    request = GenerationRequest(messages=[{"role": "user", "content": "hi"}], schema=schema)
    for _ in range(2):  # one at a time: the second is sent as json_object at once
        backend.generate([request], Sampling(max_new_tokens=8))
    first, *rest = [seen.body["response_format"] for seen in server.requests]
    assert first["type"] == "json_schema"
    assert rest == [{"type": "json_object", "schema": enumerated_schema(schema)}] * 2
    # any other error is an error
    server.plan(Reply(400, {}, openai_error("bad request")))
    other = server.keep(OpenAIBackend("m", base_url=server.openai_url, max_retries=0))
    with pytest.raises(BackendError, match="HTTP 400"):
        other.generate([request], Sampling(max_new_tokens=8))


def test_enumerated_schema_bounds_numbers_on_the_grid() -> None:
    schema = enumerated_schema(answer_schema("strategist"))
    props = schema["properties"]
    assert props["confidence"]["enum"][:3] == [0.0, 0.01, 0.02]
    assert len(props["confidence"]["enum"]) == 101
    stop = props["stop_loss_pct"]["anyOf"]
    assert (stop[0]["enum"][0], stop[0]["enum"][-1], len(stop[0]["enum"])) == (0.001, 0.5, 500)
    assert stop[1] == {"type": "null"}
    assert props["horizon_days"]["enum"] == list(range(1, 21))
    assert props["reasoning"] == answer_schema("strategist")["properties"]["reasoning"]
    score = enumerated_schema(answer_schema("technical"))["properties"]["score"]["enum"]
    assert (score[0], score[100], score[-1], len(score)) == (-1.0, 0.0, 1.0, 201)
    unbounded = {"type": "number", "minimum": 0}
    assert enumerated_schema(unbounded) == unbounded
