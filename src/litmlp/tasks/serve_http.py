"""What `litmlp serve`'s HTTP server does with a request before the model sees it, and with the errors.

`POST /predict` takes JSON: one row as an object keyed by feature name, or several rows as an array of
such objects. `RowCheck` (ASGI middleware) parses, checks and encodes the rows as `litmlp predict`
encodes a file's cells (the checkpoint's `ColumnEncoder`), and hands the worker the encoded rows as
float32 bytes. A bad request is answered here with HTTP 4xx and a one-line `{"error": ...}`, so it never
joins a batch: LitServe answers a whole batch with the error of any of its requests. `Errors` gives the
server's other error answers (404, 405, 504, ...) the same one-line shape.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

from litmlp.data.columns import FLOAT32_MAX, MISSING_TEXT, Cells, ColumnEncoder
from litmlp.errors import LitmlpError

log = logging.getLogger(__name__)
PATH = "/predict"
DRAIN_FACTOR = 8
# Bodies up to this size (~200 rows of 50 features, ~5 ms to parse) are parsed in the event loop; a larger
# one in a thread, so that the server reads other requests meanwhile.
IN_LOOP_BYTES = 256 * 1024
REPLACED_HEADERS = (b"content-type", b"content-length", b"content-encoding")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BadRequest(Exception):  # noqa: N818 (what the client sent, not an error of ours)
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _refuse_constant(name: str) -> float:
    raise BadRequest(f"{name} is not a number JSON allows; send null for a missing value")


def parse_rows(body: bytes, encoder: ColumnEncoder, max_rows: int) -> tuple[np.ndarray, bool]:
    """A request body as encoded features (float32, one row per row sent) and whether it was one object."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise BadRequest(
            "the body nests JSON arrays or objects too deeply; a row is one flat object"
        ) from None
    return encode_rows(payload, encoder, max_rows)


def encode_rows(payload: Any, encoder: ColumnEncoder, max_rows: int) -> tuple[np.ndarray, bool]:
    single = isinstance(payload, dict)
    rows = [payload] if single else payload
    if not isinstance(rows, list):
        raise BadRequest(
            "send one row as a JSON object keyed by feature name, or several as an array of them"
        )
    if not rows:
        raise BadRequest("an empty array: no rows to predict")
    if len(rows) > max_rows:
        raise BadRequest(f"{len(rows)} rows in one request; at most {max_rows} (the server's max_rows)", 413)
    cells = {}
    for column in encoder.columns:
        name, numeric = column.name, column.categories is None
        try:  # the common case at once: every row has the feature, as a number (int or float, not bool)
            values = [row[name] for row in rows]
            plain = numeric and all(type(value) is float or type(value) is int for value in values)
            numbers = np.array(values, dtype=np.float64) if plain else None
        except (KeyError, TypeError, OverflowError):  # OverflowError: an integer beyond any float
            plain = False
        if not plain:  # each cell checked, the first bad one named
            values = [_cell(row, index, single, name, numeric, encoder) for index, row in enumerate(rows)]
            numbers = np.array(values, dtype=np.float64) if numeric else None
        if numbers is not None:
            bad = np.flatnonzero(np.abs(numbers) > FLOAT32_MAX)
            if bad.size:
                where = _where(single, int(bad[0]))
                raise BadRequest(
                    f"{where}feature '{name}': {_shown(values[bad[0]])} is not a finite float32 number"
                )
            cells[name] = Cells(numbers=numbers)
        else:
            cells[name] = Cells(texts=values)
        missing = np.flatnonzero(cells[name].missing())
        if missing.size and encoder.missing == "error":
            raise BadRequest(
                f"{_where(single, int(missing[0]))}feature '{name}' has no value: the model was trained with "
                "data.missing=error and takes no missing value"
            )
    try:
        features = encoder.transform(cells, Path("request"), np.arange(len(rows)), at_prediction=True)
    except LitmlpError as error:  # checked above already
        raise BadRequest(str(error)) from None
    return features, single


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _where(single: bool, index: int) -> str:
    return "" if single else f"rows[{index}]: "


def _cell(row: Any, index: int, single: bool, name: str, numeric: bool, encoder: ColumnEncoder) -> Any:
    where = _where(single, index)
    if not isinstance(row, dict):
        raise BadRequest(f"{where}a row is a JSON object keyed by feature name, not {type(row).__name__}")
    if name not in row:
        names = ", ".join(encoder.input_names[:10]) + (
            ", ... (GET /info lists them)" if len(encoder.input_names) > 10 else ""
        )
        raise BadRequest(
            f"{where}feature '{name}' is missing; the model takes {len(encoder.input_names)}: {names}"
        )
    value = row[name]
    if value is None:
        return math.nan if numeric else None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, str))
        or (numeric and isinstance(value, str))
    ):
        kind = "a number" if numeric else "a category (text or number)"
        raise BadRequest(f"{where}feature '{name}': {_shown(value)} is not {kind}")
    if not numeric:  # as `litmlp predict` reads a file's cell: stripped, 'NA', '' and the like missing
        text = str(value).strip()
        return None if text in MISSING_TEXT else text
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise BadRequest(f"{where}feature '{name}': {_shown(value)} is not a finite float32 number") from None


class RowCheck:
    """ASGI middleware: a `POST /predict` body is parsed and encoded here, in the HTTP server; a bad one
    is answered at once and never reaches the model's workers, a good one reaches them encoded."""

    def __init__(self, app: ASGIApp, encoder_state: dict[str, Any], max_rows: int) -> None:
        self.app = app
        self.encoder = ColumnEncoder.from_state(encoder_state)
        self.max_rows = max_rows
        # A body is read whole before it is parsed: one far larger than `max_rows` rows could be (64 bytes
        # a cell, name and value) is refused, and not held in memory.
        self.max_bytes = max_rows * (len(self.encoder.input_names) + 1) * 64 + 2**20

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        size, received, chunks, more = int(declared) if declared.isdigit() else 0, 0, [], True
        # Past the limit the rest is read and dropped (a client answered mid-send sees a reset), up to
        # DRAIN_FACTOR times the limit; beyond that the connection is closed.
        while more and received <= DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            size = max(size, received)
            if size <= self.max_bytes:
                chunks.append(chunk)
            more = message.get("more_body", False)
        if size > self.max_bytes:
            too_large = (
                f"the body is over {self.max_bytes} bytes, more than {self.max_rows} rows (max_rows) take"
            )
            await _answer(send, 413, {"error": too_large}, close=more)
            return
        body = b"".join(chunks)
        try:
            if len(body) < IN_LOOP_BYTES:
                features, single = parse_rows(body, self.encoder, self.max_rows)
            else:  # a large body is parsed in a thread: the server's other requests go on meanwhile
                features, single = await asyncio.to_thread(parse_rows, body, self.encoder, self.max_rows)
        except BadRequest as error:
            await _answer(send, error.status, {"error": str(error)})
            return
        except Exception as error:  # a bug of ours: still one line, and in the server's log
            log.exception("could not read a request")
            await _answer(send, 500, {"error": f"internal error: {type(error).__name__}: {error}"})
            return
        # The workers get the encoded rows (float32 bytes), as JSON: LitServe parses a body as JSON.
        body = json.dumps(
            {
                "features": base64.b64encode(features.tobytes()).decode(),
                "columns": features.shape[1],
                "single": single,
            }
        ).encode()
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [
            (k, v) for k, v in scope["headers"] if k.lower() not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self.app({**scope, "headers": headers}, replay, send)


def decode_features(payload: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """What `RowCheck` sends a worker, back to the encoded rows and whether one object was sent."""
    flat = np.frombuffer(base64.b64decode(payload["features"]), dtype=np.float32)
    return flat.reshape(-1, payload["columns"]), bool(payload["single"])


class Errors:
    """ASGI middleware: FastAPI's and LitServe's own error answers (404, 405, 413, 504, ...) as one line
    `{"error": ...}` like the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 200
        held: list[Message] = []

        async def relay(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    held.append(message)
                    return
            elif held:
                if message.get("more_body"):
                    held.append(message)
                    return
                body = b"".join(m.get("body", b"") for m in held[1:]) + message.get("body", b"")
                kept = [(k, v) for k, v in held[0].get("headers", []) if k.lower() not in REPLACED_HEADERS]
                await _answer(send, status, {"error": _detail(body)}, headers=kept)  # Allow, Retry-After...
                return
            await send(message)

        await self.app(scope, receive, relay)


def _detail(body: bytes) -> str:
    try:
        content = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()
    if isinstance(content, dict):
        detail = content.get("error", content.get("detail", content))
        return detail if isinstance(detail, str) else json.dumps(detail)
    return json.dumps(content)


async def _answer(
    send: Send,
    status: int,
    content: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    body = json.dumps(content).encode()
    headers = [
        *(headers or []),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *([(b"connection", b"close")] if close else []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
