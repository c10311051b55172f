"""The model in a LitServe worker (`litmlp serve`): rows in, a label and probabilities per row out.

A module of its own: LitServe starts its workers with `spawn` and sends them this class by name, and
`litserve` (the `serve` extra) is imported only once `litmlp serve` has checked that it is installed.
"""

from __future__ import annotations

import json
from typing import Any

import litserve as ls
import numpy as np
import torch
from omegaconf import OmegaConf
from starlette.responses import Response

from litmlp.tasks.serve_http import PATH, decode_features
from litmlp.tasks.trained_model import load_trained_model

Request = tuple[np.ndarray, bool]  # a request's encoded rows, and whether it sent one object


class TabularAPI(ls.LitAPI):
    def __init__(self, config: dict[str, Any], max_batch_size: int, batch_timeout: float) -> None:
        """`config`: the checkpoint's path, and the run's checked `model` and `data` configs."""
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path=PATH)
        self.config = config

    def setup(self, device: str) -> None:
        self.trained = load_trained_model(self.config["ckpt_path"], OmegaConf.create(self.config))
        self.device = torch.device(device)
        self.trained.model.to(self.device)

    # No annotation on `request`: LitServe reads it to choose how a body is parsed; without one, as JSON.
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        """The rows `RowCheck` checked and encoded in the HTTP server."""
        return decode_features(request)

    def batch(self, inputs: list[Request]) -> list[Request]:
        return inputs  # requests hold several rows each: `predict` joins them

    def predict(self, inputs: list[Request] | Request) -> list[Request] | Request:
        """One forward pass over every row of the batch's requests; each request gets its own rows back."""
        batched = isinstance(inputs, list)
        requests = inputs if isinstance(inputs, list) else [inputs]
        features = torch.from_numpy(np.concatenate([rows for rows, _ in requests]))
        with torch.inference_mode():
            probabilities = self.trained.model(features.to(self.device)).cpu().numpy()
        ends = np.cumsum([len(rows) for rows, _ in requests])[:-1]
        parts = np.split(probabilities, ends)
        outputs = [(part, single) for part, (_, single) in zip(parts, requests, strict=True)]
        return outputs if batched else outputs[0]

    def unbatch(self, outputs: list[Request]) -> list[Request]:
        return outputs

    def encode_response(self, output: Request) -> Response:
        """The JSON answer, serialized here: FastAPI's own encoder costs ~1 ms a request."""
        probabilities, single = output
        classes = self.trained.classes
        rows = [
            {
                "label": classes[int(row.argmax())],
                "probabilities": dict(zip(classes, row.tolist(), strict=True)),
            }
            for row in probabilities
        ]
        return Response(json.dumps(rows[0] if single else rows), media_type="application/json")
