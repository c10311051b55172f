"""`litmlp serve ckpt_path=PATH [port=8000] [host=127.0.0.1]`: a checkpoint behind an HTTP endpoint.

    {"sepal_length": 5.1, "sepal_width": 3.5, ...}  ->  {"label": "setosa", "probabilities": {...}}
    [{...}, {...}]                                   ->  [{"label": ...}, {"label": ...}]

LitServe runs the model in worker processes (`serve_api.TabularAPI`) and batches requests that arrive
together (`max_batch_size`, `batch_timeout`); the HTTP server checks and encodes each request first
(`serve_http`). The checkpoint is read as every command reads one (tensors and plain values only; its
config may build only allow-listed targets), in this process before the server starts and in each worker.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litmlp.errors import LitmlpError, StopRequested, UsageError
from litmlp.tasks.serve_http import PATH, Errors, RowCheck
from litmlp.tasks.trained_model import load_trained_model

log = logging.getLogger(__name__)
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds to
ACCELERATORS = ("auto", "cpu", "cuda", "mps")


def _check(cfg: DictConfig) -> None:
    if cfg.host not in HOSTS:
        raise UsageError(f"host={cfg.host}: LitServe binds to one of {', '.join(HOSTS)}")
    if not 1024 <= cfg.port <= 65535:
        raise UsageError(f"port={cfg.port}: use a port from 1024 to 65535")
    if cfg.accelerator not in ACCELERATORS:
        raise UsageError(f"accelerator={cfg.accelerator}: one of {', '.join(ACCELERATORS)}")
    for key in ("max_batch_size", "max_rows", "workers_per_device"):
        if cfg[key] < 1:
            raise UsageError(f"{key}={cfg[key]}: at least 1")
    if cfg.batch_timeout < 0 or cfg.timeout <= 0:
        raise UsageError("batch_timeout is at least 0 and timeout more than 0 (seconds)")
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # uvicorn would print its own error, exit 3
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((cfg.host, cfg.port))
        except OSError as error:
            raise LitmlpError(
                f"port={cfg.port} on {cfg.host}: {error.strerror}; choose another port"
            ) from None


def serve(cfg: DictConfig) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("litserve") is None:
        raise LitmlpError("litmlp serve needs LitServe: pip install 'litmlp[serve]'")
    _check(cfg)
    trained = load_trained_model(cfg.ckpt_path, cfg)  # a bad checkpoint fails here, before any server
    import litserve as ls

    from litmlp.tasks.serve_api import TabularAPI

    api = TabularAPI(
        {
            "ckpt_path": str(cfg.ckpt_path),
            "model": OmegaConf.to_container(cfg.model),
            "data": OmegaConf.to_container(cfg.data),
        },
        max_batch_size=cfg.max_batch_size,
        batch_timeout=cfg.batch_timeout,
    )
    server = ls.LitServer(
        api,
        accelerator=cfg.accelerator,
        workers_per_device=cfg.workers_per_device,
        timeout=cfg.timeout,
        middlewares=[
            (RowCheck, {"encoder_state": trained.encoder.state(), "max_rows": cfg.max_rows}),
            Errors,
        ],
        model_metadata={
            "checkpoint": str(Path(cfg.ckpt_path).resolve()),
            "features": trained.columns,
            "classes": trained.classes,
            "max_rows": cfg.max_rows,
        },
    )
    log.info(
        "Serving %s on http://%s:%d%s: %d features (%s), classes %s",
        cfg.ckpt_path,
        cfg.host,
        cfg.port,
        PATH,
        len(trained.columns),
        ", ".join(trained.columns[:5]) + (", ..." if len(trained.columns) > 5 else ""),
        ", ".join(trained.classes),
    )
    stopped = _stop_on_signals(server)
    server.run(
        host=cfg.host, port=cfg.port, generate_client_file=False, log_level="warning", num_api_servers=1
    )
    if stopped:
        raise StopRequested(stopped[0])  # the command line says so, and ends with 0
    return {"stopped": True}


def _stop_on_signals(server: Any) -> list[str]:
    """SIGTERM and SIGINT end the server the way LitServe ends it, by setting its shutdown event; returns
    the list the signal's name is put in. The event is a multiprocessing manager's, which the main thread
    is waiting on: a handler that raised there would leave the manager's connection mid-call, and
    LitServe's shutdown would then wait forever. So another thread sets it."""
    stopped: list[str] = []

    def stop(signum: int, frame: Any) -> None:
        if stopped:
            return
        stopped.append(signal.Signals(signum).name)
        event = server._shutdown_event  # LitServe's (private): made when the server starts
        if event is None:  # nothing started yet
            raise StopRequested(stopped[0])
        threading.Thread(target=event.set, daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop)
    return stopped
