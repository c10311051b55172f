"""`litmlp serve`: a real server process on a free local port, asked over HTTP by a real client.

Its answers are `litmlp predict`'s for the same rows (scaling, categories, imputation); bad requests get a
4xx with a one-line message and never spoil the requests batched with them."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from litmlp.data.columns import Column, ColumnEncoder
from litmlp.tasks.serve_http import BadRequest, encode_rows
from tests.conftest import cli_command, cli_environment, run_cli
from tests.helpers.tables import write_shop

pytest.importorskip("litserve")

MAX_ROWS = 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, body: bytes | str) -> tuple[int, Any]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    def predict(self, payload: Any) -> tuple[int, Any]:
        return post(f"{self.url}/predict", json.dumps(payload))


def start(cwd: Path, *args: str) -> Server:
    port = free_port()
    with (cwd / "serve.out").open("w") as out, (cwd / "serve.err").open("w") as err:  # never a full pipe
        process = subprocess.Popen(
            cli_command("serve", f"port={port}", *args),
            cwd=cwd,
            env=cli_environment(),
            stdout=out,
            stderr=err,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server ended: {(cwd / 'serve.err').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return Server(process, port)
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not answer /health within 120 s")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run on a table with a text category, an integer-coded one and gaps, filled by imputation."""
    cwd = tmp_path_factory.mktemp("serve")
    write_shop(cwd / "shop.csv", count=300)
    result = run_cli(
        "train",
        "trainer=cpu",
        "trainer.max_epochs=2",
        "callbacks.rich_progress_bar=null",
        "data=file",
        "data.path=shop.csv",
        "data.target=bought",
        "data.missing=impute",
        "data.categorical=[store]",
        "hydra.run.dir=run",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd


@pytest.fixture(scope="module")
def server(shop: Path) -> Iterator[Server]:
    running = start(shop, "ckpt_path=run/checkpoints/last.ckpt", f"max_rows={MAX_ROWS}", "batch_timeout=0.05")
    yield running
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(timeout=60)
    stderr = (shop / "serve.err").read_text()
    assert running.process.returncode == 0, stderr[-3000:]
    assert "litmlp serve: stopped by SIGTERM" in stderr.splitlines()


def json_rows(path: Path) -> list[dict[str, Any]]:
    """The table's rows as a client sends them: numbers, texts, null for an empty cell."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [
        {
            "age": float(row["age"]) if row["age"] else None,
            "income": float(row["income"]),
            "color": row["color"] or None,
            "store": int(row["store"]),
        }
        for row in rows
    ]


def predictions(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as file:
        return [
            {"label": row.pop("prediction"), "probabilities": {k[5:]: float(v) for k, v in row.items()}}
            for row in csv.DictReader(file)
        ]


def same(served: list[dict[str, Any]], predicted: list[dict[str, Any]]) -> None:
    assert [row["label"] for row in served] == [row["label"] for row in predicted]
    for got, expected in zip(served, predicted, strict=True):
        assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)


def test_answers_are_predicts_for_one_row_and_for_a_batch(shop, server):
    write_shop(shop / "new.csv", count=MAX_ROWS, seed=7)  # gaps included: imputed as in training
    result = run_cli(
        "predict", "ckpt_path=run/checkpoints/last.ckpt", "input=new.csv", "output=p.csv", cwd=shop
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = predictions(shop / "p.csv")
    rows = json_rows(shop / "new.csv")
    assert any(row["age"] is None for row in rows)
    assert any(row["color"] is None for row in rows)

    status, answer = server.predict(rows)
    assert status == 200
    same(answer, expected)
    padded = json.dumps(rows) + " " * 300_000  # over 256 KiB: parsed off the event loop, same answers
    status, answer = post(f"{server.url}/predict", padded)
    assert status == 200
    same(answer, expected)
    status, answer = server.predict(rows[0])  # one object: one answer, not a list
    assert status == 200
    same([answer], expected[:1])
    assert set(answer["probabilities"]) == {"no", "yes"}


def test_concurrent_requests_are_batched_and_a_bad_one_spoils_no_other(shop, server):
    write_shop(shop / "many.csv", count=120, seed=3)
    result = run_cli(
        "predict", "ckpt_path=run/checkpoints/last.ckpt", "input=many.csv", "output=m.csv", cwd=shop
    )
    assert result.returncode == 0
    expected, rows = predictions(shop / "m.csv"), json_rows(shop / "many.csv")
    # 30 requests of 1 to 7 rows, every fifth one bad, sent at once: the server batches them together
    requests, start_row = [], 0
    for number in range(30):
        size = 1 + number % 7
        part = slice(start_row % 100, start_row % 100 + size)
        start_row += size
        bad = number % 5 == 4
        payload = [{**row, "income": "high"} if bad else row for row in rows[part]]
        requests.append((payload, part, bad))
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda request: server.predict(request[0]), requests))
    for (_, part, bad), (status, answer) in zip(requests, answers, strict=True):
        if bad:
            assert (status, answer) == (400, {"error": "rows[0]: feature 'income': \"high\" is not a number"})
        else:
            assert status == 200
            same(answer, expected[part])


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            '{"age": 40, "income": 50, "color": "red"}',
            400,
            "feature 'store' is missing; the model takes 4: age, income, color, store",
        ),
        (
            '[{"age": 40, "income": 50, "color": "red", "store": 1}, {"age": 1}]',
            400,
            "rows[1]: feature 'income' is missing; the model takes 4: age, income, color, store",
        ),
        (
            '{"age": "old", "income": 50, "color": "red", "store": 1}',
            400,
            "feature 'age': \"old\" is not a number",
        ),
        (
            '{"age": 40, "income": 50, "color": true, "store": 1}',
            400,
            "feature 'color': true is not a category (text or number)",
        ),
        (
            '{"age": NaN, "income": 50, "color": "red", "store": 1}',
            400,
            "NaN is not a number JSON allows; send null for a missing value",
        ),
        (
            '{"age": 1e39, "income": 50, "color": "red", "store": 1}',
            400,
            "feature 'age': 1e+39 is not a finite float32 number",
        ),
        (
            "[" + ",".join(['{"age": 1, "income": 2, "color": "red", "store": 1}'] * (MAX_ROWS + 1)) + "]",
            413,
            f"{MAX_ROWS + 1} rows in one request; at most {MAX_ROWS} (the server's max_rows)",
        ),
        ("[]", 400, "an empty array: no rows to predict"),
        (
            "[" * 100_000 + "]" * 100_000,
            400,
            "the body nests JSON arrays or objects too deeply; a row is one flat object",
        ),
        # 40 rows x (4 features + 1) x 64 bytes + 1 MiB
        (
            "[" + " " * 1_100_000 + "]",
            413,
            "the body is over 1061376 bytes, more than 40 rows (max_rows) take",
        ),
        ("[1, 2]", 400, "rows[0]: a row is a JSON object keyed by feature name, not int"),
        (
            '{"age": 40,',
            400,
            "the body is not JSON: Expecting property name enclosed in double quotes: line 1 column 12 "
            "(char 11)",
        ),
    ],
)
def test_a_bad_request_gets_a_4xx_and_one_line(server, body, status, error):
    assert post(f"{server.url}/predict", body) == (status, {"error": error})


def test_other_paths_answer_in_the_same_shape(server):
    with urllib.request.urlopen(f"{server.url}/info", timeout=10) as response:
        info = json.loads(response.read())["model"]
    assert (info["features"], info["classes"], info["max_rows"]) == (
        ["age", "income", "color", "store"],
        ["no", "yes"],
        MAX_ROWS,
    )
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.url}/nothing", timeout=10)
    assert (missing.value.code, json.loads(missing.value.read())) == (404, {"error": "Not Found"})
    with pytest.raises(urllib.error.HTTPError) as wrong_method:
        urllib.request.urlopen(f"{server.url}/predict", timeout=10)  # a GET
    assert (wrong_method.value.code, wrong_method.value.headers["Allow"]) == (405, "POST")
    assert json.loads(wrong_method.value.read()) == {"error": "Method Not Allowed"}


@pytest.mark.slow  # a CLI start of its own (~3 s): the default suite keeps one server
def test_a_host_litserve_cannot_bind_is_refused_before_anything_starts(shop):
    result = run_cli("serve", "ckpt_path=run/checkpoints/last.ckpt", "host=localhost", cwd=shop)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "litmlp serve: error: host=localhost: LitServe binds to one of 127.0.0.1, 0.0.0.0, ::"
    ]


STRICT = ColumnEncoder([Column("size"), Column("kind", categories=["a", "b"])], missing="error")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            {"size": None, "kind": "a"},
            "feature 'size' has no value: the model was trained with data.missing=error and "
            "takes no missing value",
        ),
        (
            [{"size": 1, "kind": "a"}, {"size": 2, "kind": None}],
            "rows[1]: feature 'kind' has no value: the model was "
            "trained with data.missing=error and takes no missing value",
        ),
        (
            {"size": 10**400, "kind": "a"},
            "feature 'size': 1000000000000000000000000000000000000... is not a finite float32 number",
        ),
        (
            [{"size": 1, "kind": "a"}, {"size": -(2**200), "kind": "a"}],
            "rows[1]: feature 'size': "
            "-160693804425899027554196209234116260... is not a finite float32 number",
        ),
        ({"size": [1], "kind": "a"}, "feature 'size': [1] is not a number"),
        ({"size": 1, "kind": {"x": 1}}, "feature 'kind': {\"x\": 1} is not a category (text or number)"),
    ],
)
def test_rows_a_model_trained_without_missing_values_refuses(payload, error):
    with pytest.raises(BadRequest) as refused:
        encode_rows(payload, STRICT, max_rows=10)
    assert (refused.value.status, str(refused.value)) == (400, error)


def test_rows_are_encoded_as_a_file_is():
    rows = [{"size": 3, "kind": "b"}, {"size": 2.5, "kind": "c", "extra": 1}, {"size": 1, "kind": " b "}]
    features, single = encode_rows(rows, STRICT, 10)
    assert not single
    # an unseen category: all zeros; a text stripped, as a file's cell
    assert features.tolist() == [[3.0, 0.0, 1.0], [2.5, 0.0, 0.0], [1.0, 0.0, 1.0]]
    features, _ = encode_rows({"size": 1, "kind": 1e16}, STRICT, 10)  # once an endless recursion
    assert features.tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize("text", ["", "NA", "null", " NaN "])
def test_a_category_written_as_missing_is_missing_as_in_a_file(text):
    with pytest.raises(BadRequest) as refused:
        encode_rows({"size": 1, "kind": text}, STRICT, 10)
    assert str(refused.value).startswith("feature 'kind' has no value")


@pytest.mark.slow  # a CLI start of its own (~3 s): the default suite keeps one server
def test_a_port_in_use_is_one_line_before_anything_starts(shop):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "ckpt_path=run/checkpoints/last.ckpt", f"port={port}", cwd=shop)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"litmlp serve: error: port={port} on 127.0.0.1: Address already in use; choose another port"
    ]
