"""Load on `litmlp serve`, over loopback: requests/s and p50/p99 latency for single rows and for batches of
rows, with LitServe's dynamic batching on (the default, `max_batch_size=64`) and off (`max_batch_size=1`):
two servers of the same checkpoint, running at once and loaded in turns, round by round.

    python scripts/benchmark_serve.py [--ckpt-path PATH] [--requests 1500] [--seconds 15]
        [--concurrency 8] [--batch-rows 64] [--json out.json]

Without `--ckpt-path` it trains the default model for one epoch in a temporary directory first. Each
measurement is bounded by both a request count and a time limit; clients keep their connection open
(HTTP/1.1 keep-alive), one thread each, on this machine: they share its cores with the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def litmlp(*args: str) -> list[str]:
    return [sys.executable, "-m", "litmlp", *args]


def train(directory: Path) -> Path:
    subprocess.run(
        litmlp("train", "trainer.max_epochs=1", "callbacks.rich_progress_bar=null", "hydra.run.dir=run"),
        cwd=directory,
        check=True,
        capture_output=True,
    )
    return directory / "run" / "checkpoints" / "last.ckpt"


def start_server(ckpt_path: Path, directory: Path, *overrides: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        litmlp("serve", f"ckpt_path={ckpt_path}", f"port={port}", "host=127.0.0.1", *overrides),
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server ended: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 120 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def features(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=10) as response:
        return list(json.loads(response.read())["model"]["features"])


def load(port: int, body: bytes, requests: int, seconds: float, concurrency: int) -> dict[str, Any]:
    """`requests` POSTs of `body` from `concurrency` threads, stopping early after `seconds`."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal issued, errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        while True:
            with lock:
                if issued >= requests or time.monotonic() > deadline:
                    break
                issued += 1
            started = time.perf_counter()
            connection.request("POST", "/predict", body, headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += response.status != 200
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall_s": wall}


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests/s: the median over the rounds; latencies: pooled over them."""
    ordered = sorted(latency for part in rounds for latency in part["latencies"])
    return {
        "requests": len(ordered),
        "errors": sum(part["errors"] for part in rounds),
        "requests_per_s": statistics.median(len(part["latencies"]) / part["wall_s"] for part in rounds),
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "rounds_requests_per_s": [len(part["latencies"]) / part["wall_s"] for part in rounds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt-path", type=Path)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-rows", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="turns each server takes, per request shape")
    parser.add_argument("--json", type=Path)
    parser.add_argument("overrides", nargs="*", help="litmlp serve settings for both servers (key=value)")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    variants = {"on": (), "off": ("max_batch_size=1",)}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        ckpt_path = args.ckpt_path.resolve() if args.ckpt_path else train(directory)
        # Both servers run at once and take turns, round by round: the machine's drift hits both alike.
        servers = {
            name: start_server(ckpt_path, directory, *args.overrides, *extra)
            for name, extra in variants.items()
        }
        try:
            names = features(servers["on"][1])
            row = {name: 0.1 * i for i, name in enumerate(names)}
            bodies = {
                "1 row": json.dumps(row).encode(),
                f"{args.batch_rows} rows": json.dumps([row] * args.batch_rows).encode(),
            }
            for _, port in servers.values():
                load(port, bodies["1 row"], 50, 5.0, args.concurrency)  # warm-up
            per_round = (max(1, args.requests // args.rounds), args.seconds / args.rounds)
            for shape, body in bodies.items():
                parts: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
                for _ in range(args.rounds):
                    for name, (_, port) in servers.items():
                        parts[name].append(load(port, body, *per_round, args.concurrency))
                for name in variants:
                    results[f"{shape}, batching {name}"] = summary(parts[name])
        finally:
            for process, _ in servers.values():
                stop_server(process)

    print(
        f"litmlp serve on 127.0.0.1, {args.concurrency} concurrent clients, at most {args.requests} requests "
        f"or {args.seconds:g} s a line in {args.rounds} alternating rounds; req/s the median round "
        f"({os.cpu_count()} CPUs, clients included)"
    )
    print(f"{'request':<26}{'requests':>9}{'req/s':>9}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}")
    for name, result in results.items():
        rows = args.batch_rows if name.startswith(f"{args.batch_rows} rows") else 1
        print(
            f"{name:<26}{result['requests']:>9}{result['requests_per_s']:>9.0f}"
            f"{result['requests_per_s'] * rows:>10.0f}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}"
            f"{result['errors']:>7}"
        )
    for shape in ("1 row", f"{args.batch_rows} rows"):
        on, off = results[f"{shape}, batching on"], results[f"{shape}, batching off"]
        print(f"{shape}: batching on/off requests/s {on['requests_per_s'] / off['requests_per_s']:.2f}x")
    print(
        "rounds, req/s:",
        "; ".join(
            f"{k}: " + ", ".join(f"{v:.0f}" for v in r["rounds_requests_per_s"]) for k, r in results.items()
        ),
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
