"""Peak memory of `genad score` on folders of many images: it reads, scores and lets go of
256 images at a time, so its memory should not grow with the number of files.

    python benchmarks/score_memory.py --out OUT                # 2,000 and 20,000 images
    python benchmarks/score_memory.py --out OUT --counts 500,5000 --px 128

Trains a small `ae` on --px x --px grey images (so the model reads every file at that size),
writes the folders of PNG files (smooth random images, each different), runs `genad score`
on each folder in a fresh process and reads that process's peak resident memory. Writes
OUT/score_memory.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import genad


def write_images(folder: Path, n: int, px: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:px, 0:px] / px
    for i in range(n):
        a, b, c = rng.uniform(-3, 3, 3)
        img = 127.5 + 100 * np.sin(a * xx * np.pi + b * yy * np.pi + c)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:06d}.png")


def peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """(peak resident memory in MB of the command run in a fresh process, seconds). The
    child's own figure, read by a wrapper process so earlier children do not count."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True,
                         text=True)
    return int(out.stdout.split()[-1]) / 1024, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--counts", default="2000,20000")
    p.add_argument("--px", type=int, default=256, help="side of the images the model reads")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_images(out / "train", 64, args.px, seed=1)
    from genad.data import load

    model = genad.create("ae", image_size=32, epochs=1, batch_size=16, width=8, latent=8)
    model.fit(load(f"folder:{out / 'train'}")).save(out / "model")
    rows = []
    for n in (int(c) for c in args.counts.split(",")):
        folder = out / f"images-{n}"
        if len(list(folder.glob("*.png"))) != n:
            write_images(folder, n, args.px)
        rss, sec = peak_rss_of([sys.executable, "-m", "genad", "score", str(out / "model"),
                                str(folder), "--out", str(out / f"scores-{n}.csv")])
        rows.append({"images": n, "px": args.px, "peak_rss_mb": round(rss, 1),
                     "seconds": round(sec, 1)})
        print(json.dumps(rows[-1]), flush=True)
    (out / "score_memory.json").write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
