"""Peak memory of fitting a model on the whole dSprites grid (737,280 sprites held as uint8):
how much beyond the uint8 images a fit costs.

    python benchmarks/fit_memory.py                 # 32 px
    python benchmarks/fit_memory.py --size 64

Renders the grid (`shapes.grid_set`), fits `beta-vae` for one short epoch (640 images, so the
figure is the data handling, not training), in a fresh process, and prints that process's
peak resident memory beside the size of the uint8 images. To measure another version of
genad, put its source first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import resource, sys, torch, genad
from genad.data import shapes
torch.set_num_threads(1)
grid = shapes.grid_set(int(sys.argv[1]))
genad.create("beta-vae", image_size=int(sys.argv[1]), epochs=1, epoch_images=640,
             calib_fraction=0.005).fit(grid, quiet=True, score_training=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, grid.images.numel())
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32)
    args = p.parse_args()
    out = subprocess.run([sys.executable, "-c", CHILD, str(args.size)], check=True,
                         capture_output=True, text=True).stdout.split()
    row = {"size": args.size, "peak_rss_gb": round(int(out[-2]) / 1e6, 2),
           "uint8_images_gb": round(int(out[-1]) / 1e9, 2)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
