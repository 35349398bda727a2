"""Throughput and latency of `genad serve`: many one-image requests from concurrent clients.

    python benchmarks/serve_load.py --out OUT                  # 2,000 requests from 8 clients
    python benchmarks/serve_load.py --out OUT --model RUN --requests 500 --clients 4

Trains a small ae on the bundled digits (--size px, --epochs; default widths) unless --model
names a trained run, starts `genad serve` on a free loopback port in a process of its own, and
sends --requests POST /score requests, one --size x --size digit PNG each (eight different
digits in turn), from --clients threads that each keep one connection open, after --warmup
requests that are not counted. It does so twice: with heat maps (the default) and without
(?maps=false). For scale, it also times the same scoring called in this process (no HTTP).
Reports requests/s and latency percentiles (p50, p90, p99, max) and the machine's 1-minute
load average before and after (other work on the machine slows every figure); writes
OUT/serve_load.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

import genad


def digit_pngs(size: int, n: int = 8) -> list[bytes]:
    """`n` bundled digits as size x size grey PNG files."""
    images = genad.data.load("digits", size=size).images[:n, 0].numpy()
    out = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)} | {
        "max_ms": round(float(ms.max()), 2)}


def direct(model: Path, pngs: list[bytes], n: int) -> dict[str, float]:
    """The scoring a request does (read, score, heat map), called here `n` times, no HTTP, in
    a worker thread as the server calls it (on a busy 2-core machine torch ran 5-9x slower in
    the main thread than in a worker thread)."""
    from genad.serve import Scorer

    scorer = Scorer(model)
    took: list[float] = []

    def calls() -> None:
        for i in range(n):
            t = time.perf_counter()
            scorer.score([(f"{i}.png", pngs[i % len(pngs)])])
            took.append(time.perf_counter() - t)

    worker = threading.Thread(target=calls)
    worker.start()
    worker.join()
    return {"calls": n, **percentiles(took)}


def load(url: str, pngs: list[bytes], requests: int, clients: int, warmup: int,
         maps: bool) -> dict[str, float]:
    """`requests` POST /score calls from `clients` threads (after `warmup` uncounted ones)."""
    params = {} if maps else {"maps": "false"}
    with httpx.Client(timeout=60) as c:
        for i in range(warmup):
            c.post(f"{url}/score", files={"files": ("w.png", pngs[i % len(pngs)])},
                   params=params).raise_for_status()
    took: list[float] = []
    errors: list[int] = []
    next_index = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60) as c:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                t = time.perf_counter()
                r = c.post(f"{url}/score", files={"files": (f"{i}.png", pngs[i % len(pngs)])},
                           params=params)
                dt = time.perf_counter() - t
                with lock:
                    took.append(dt)
                    if r.status_code != 200 or len(r.json()["scores"]) != 1:
                        errors.append(r.status_code)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"maps": maps, "requests": requests, "clients": clients, "errors": len(errors),
            "seconds": round(wall, 2), "req_per_s": round(requests / wall, 1),
            **percentiles(took)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", help="a trained detector's run folder (default: train an ae)")
    p.add_argument("--size", type=int, default=32, help="image size (default 32)")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the ae trained here")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--direct-calls", type=int, default=200, help="scoring calls without HTTP")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = Path(args.model) if args.model else out / "model"
    if not args.model:
        split = genad.data.load("digits", protocol="leave-one-out", cls="3", size=args.size)
        genad.create("ae", image_size=args.size, epochs=args.epochs, seed=0).fit(
            split.train).save(model)
    det = genad.load(str(model))
    pngs = digit_pngs(det.input_size_[0])
    result = {"model": det.name, "input_size": list(det.input_size_),
              "width": getattr(det.config, "width", None), "cpus": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "genad": genad.__version__,
              "torch": torch.__version__, "python": platform.python_version(),
              "load_average_before": round(os.getloadavg()[0], 2),
              "direct": direct(model, pngs, args.direct_calls), "rows": []}
    print(json.dumps({"direct": result["direct"]}), flush=True)
    server = subprocess.Popen([sys.executable, "-m", "genad", "serve", str(model), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if " at http://" not in line:
            raise SystemExit(f"genad serve did not start: {line!r}")
        url = line.split(" at ")[1].split()[0].rstrip("/")
        threading.Thread(target=server.stdout.read, daemon=True).start()  # drain the access log
        for maps in (True, False):
            row = load(url, pngs, args.requests, args.clients, args.warmup, maps)
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    result["load_average_after"] = round(os.getloadavg()[0], 2)  # other work on the machine
    (out / "serve_load.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
