"""The HTTP API in-process (FastAPI's TestClient): what `stockagents serve` answers."""

from fastapi.testclient import TestClient

from stockagents.serving.app import create_app

with TestClient(create_app(models="expert")) as client:
    print(client.get("/health").json())
    answer = client.get("/analyze/NVDA", params={"as_of": "2023-06-30"}).json()
    print(answer["symbol"], answer["decision"]["action"], answer["decision"]["confidence"])
    print(client.get("/analyze/ZZZZ").json())  # a clear 404, not a traceback
