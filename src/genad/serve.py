"""`genad serve`: a trained detector behind HTTP (FastAPI + uvicorn, the `serve` extra).

    POST /score   image files (multipart/form-data) -> per image: score, calibrated score,
                  label and, for models that give maps, a heat-map PNG (base64)
    GET  /health  the model: name, input size, channels, threshold, genad version, limits
    GET  /        a self-contained page (no CDN): drop images, see scores and heat maps

The model is loaded once, when the app is made. Files are read as `genad score` reads them
(`read_readable`: at the training images' size and channel count), so a file scores the same
through either. A file that cannot be read as an image is listed under "skipped" with the
reason and the others are scored (200); when none of a request's files can be read, 422.
Scoring runs in a worker thread, one request at a time under a lock: some models (AnoGAN's
latent search) freeze and unfreeze their weights while scoring, so two calls at once would
race. Decoding the files runs outside the lock. The body is capped (`max_bytes`: 413 from the
Content-Length header before anything is read, or as soon as a body sent in chunks passes the
cap) and so is the number of files (`max_files`: 400).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (Request,
# imported inside create_app) as objects.
import base64
import io
import math
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np

from genad import __version__
from genad.errors import ConfigError, GenadError

DEFAULT_MAX_MB = 32  # request body cap, MB
DEFAULT_MAX_FILES = 64  # files per request


def require() -> None:
    """ConfigError naming the extra to install when FastAPI, uvicorn or python-multipart is
    missing."""
    import importlib.util

    missing = [name for name, modules in (("fastapi", ["fastapi"]), ("uvicorn", ["uvicorn"]),
                                          ("python-multipart", ["python_multipart", "multipart"]))
               if not any(importlib.util.find_spec(m) for m in modules)]
    if missing:
        raise ConfigError(f"genad serve needs {', '.join(missing)}: pip install 'genad[serve]'")


class _Upload(io.BytesIO):
    """An uploaded file's bytes, which read errors name by the file's name."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.upload_name = name

    def __str__(self) -> str:
        return self.upload_name

    def __repr__(self) -> str:  # PIL's "cannot identify image file %r"
        return repr(self.upload_name)


def heat_map_png(heat: np.ndarray, top: float) -> bytes:
    """An (H, W) map as an inferno PNG with `top` white-hot (`report.save_heat_maps`' colours)."""
    from matplotlib import colormaps
    from PIL import Image

    rgb = colormaps["inferno"](np.clip(heat / top, 0, 1))[..., :3]
    buf = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class Scorer:
    """A detector loaded from `model_dir`; `score` may be called from several threads."""

    def __init__(self, model_dir: str | Path, device: str | None = None) -> None:
        import torch

        import genad
        from genad.models.base import Detector

        self.det = genad.load(str(model_dir), device=device)
        if not isinstance(self.det, Detector):
            raise ConfigError(f"{model_dir} holds a {self.det.name} model, which does not score "
                              "anomalies; serve a detector's run folder")
        self.lock = threading.Lock()
        blank = torch.zeros((1, self.det.channels_, *self.det.input_size_), dtype=torch.uint8)
        try:
            self.det.anomaly_map(blank)
            self.maps = True
        except ConfigError:  # the model gives no pixel map
            self.maps = False

    def health(self) -> dict[str, Any]:
        d = self.det
        return {"status": "ok", "model": d.name, "input_size": list(d.input_size_),
                "network_size": d.config.image_size, "channels": d.channels_,
                "threshold": d.threshold_, "maps": self.maps, "genad": __version__}

    def score(self, files: list[tuple[str, bytes]], maps: bool = True,
              map_scale: float | None = None) -> dict[str, Any]:
        """Score [(name, bytes)] -> {"model", "threshold", "map_scale", "scores": [{index,
        name, score, calibrated, anomalous, size: [h, w], heat_map?}], "skipped": [{index,
        name, why}]}. `index` is the file's place in `files`; heat maps (base64 PNG at the
        model's input size) when `maps` and the model gives them, all with `map_scale`
        white-hot (default: `report.heat_map_scale` of this request's maps)."""
        from genad import report
        from genad.data.folder import read_readable

        det = self.det
        uploads = [_Upload(data, name) for name, data in files]
        where = {id(u): i for i, u in enumerate(uploads)}
        images, kept, bad, sizes = read_readable(uploads, tuple(det.input_size_), det.channels_)
        skipped = [{"index": where[id(u)], "name": u.upload_name, "why": why} for u, why in bad]
        result: dict[str, Any] = {"model": det.name, "threshold": det.threshold_,
                                  "map_scale": None, "scores": [], "skipped": skipped}
        if not kept:
            return result
        with self.lock:
            scores = det.decision_function(images)
            heat = det.anomaly_map(images) if maps and self.maps else None
        calibrated = np.searchsorted(det.calibration_scores_, scores, side="left") / len(
            det.calibration_scores_)  # as `genad score` computes it
        if heat is not None:
            result["map_scale"] = map_scale or report.heat_map_scale(heat)
        for k, (u, s, c, hw) in enumerate(zip(kept, scores, calibrated, sizes)):
            row = {"index": where[id(u)], "name": u.upload_name, "score": float(s),
                   "calibrated": float(c), "anomalous": int(s > det.threshold_),
                   "size": list(hw)}
            if heat is not None:
                row["heat_map"] = base64.b64encode(
                    heat_map_png(heat[k], result["map_scale"])).decode("ascii")
            result["scores"].append(row)
        return result


def create_app(model_dir: str | Path, *, max_bytes: int = DEFAULT_MAX_MB * 2**20,
               max_files: int = DEFAULT_MAX_FILES, device: str | None = None) -> Any:
    """The FastAPI app serving the detector saved in `model_dir` (a run or model folder),
    loaded here, once. Requests over `max_bytes` get 413, over `max_files` files 400."""
    require()
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException as StarletteHTTPException

    if max_bytes < 1 or max_files < 1:
        raise ConfigError("the request caps must be at least 1 byte and 1 file")
    scorer = Scorer(model_dir, device)
    app = FastAPI(title="genad", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)  # FastAPI's docs pages load their scripts from a CDN
    app.state.scorer = scorer
    how = "send images as multipart/form-data file fields (curl -F files=@image.png URL/score)"
    too_large = (f"the request is larger than this server takes ({max_bytes / 2**20:g} MB, "
                 "genad serve --max-mb): send fewer or smaller images at a time")

    def _too_large() -> HTTPException:
        # no "connection: close": uvicorn then reads and drops the rest of the body (holding
        # none of it), so that the client, still sending, gets this answer instead of a reset
        return HTTPException(413, too_large)

    def capped(request: Request) -> Request:
        """`request` whose body raises 413 once more than max_bytes of it have come."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise _too_large()
        seen = 0

        async def receive() -> Any:
            nonlocal seen
            message = await request.receive()
            seen += len(message.get("body", b""))
            if seen > max_bytes:  # a body sent in chunks, without Content-Length
                raise _too_large()
            return message

        return Request(request.scope, receive)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg')}"}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {**scorer.health(), "max_bytes": max_bytes, "max_files": max_files}

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"content-security-policy": PAGE_CSP})

    @app.post("/score")
    async def score(request: Request, maps: bool = True,
                    map_scale: float | None = None) -> JSONResponse:
        if map_scale is not None and not (math.isfinite(map_scale) and map_scale > 0):
            raise HTTPException(422, f"map_scale must be a positive number, got {map_scale}")
        kind = request.headers.get("content-type", "").lower()
        if not kind.startswith("multipart/form-data"):
            raise HTTPException(415, f"{kind or 'no content type'}: {how}")
        files: list[tuple[str, bytes]] = []
        try:
            async with capped(request).form(max_files=max_files, max_fields=max_files) as form:
                for _, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files.append((value.filename or f"file {len(files) + 1}",
                                      await value.read()))
        except StarletteHTTPException as e:
            if e.status_code == 400 and "too many files" in str(e.detail).lower():
                raise HTTPException(400, f"more than {max_files} files in one request (genad "
                                    "serve --max-files): send them in several requests") from None
            raise
        if not files:
            raise HTTPException(400, f"no files in the request: {how}")
        try:
            result = await run_in_threadpool(scorer.score, files, maps, map_scale)
        except GenadError as e:
            raise HTTPException(422, str(e)) from None
        if not result["scores"]:
            skipped = result["skipped"]
            detail = (skipped[0]["why"] if len(skipped) == 1 else f"none of the {len(skipped)} "
                      f"files could be read as an image (first: {skipped[0]['why']})")
            return JSONResponse({"detail": detail, **result}, status_code=422)
        return JSONResponse(result)

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); ConfigError when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}; choose another "
                          "--port (or --host)") from None


def server(app: Any, log_level: str = "info") -> Any:
    """A uvicorn server for `app`; `.run(sockets=[bind(...)])` serves until interrupted (or
    until its `should_exit` is set, from another thread)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level))


# ---- the page -----------------------------------------------------------------------------
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>genad serve</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{padding:14px 24px;background:#1d1d2b;color:#eee}
header b{font-size:18px;margin-right:12px}
main{padding:18px 24px}
#drop{display:block;border:2px dashed #999;border-radius:10px;padding:22px;text-align:center;
  background:#fff}
#drop.over{border-color:#d8572a;background:#fff4ee}
#controls{margin:12px 0;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
#status{color:#555}#status.error{color:#b00020;font-weight:600}
#results{display:flex;flex-wrap:wrap;gap:16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 4px #0002;padding:10px;width:200px}
.view{position:relative;width:200px;background:#eee}
.view img{position:absolute;inset:0;width:100%;height:100%}
.view img.small{image-rendering:pixelated}
.name{font-weight:600;margin-top:6px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:13px}
.anomalous .badge{background:#c62828}.normal .badge{background:#2e7d32}
.skipped .why{color:#b00020;font-size:13px}
.num{font-variant-numeric:tabular-nums;color:#444;font-size:13px}
</style></head>
<body><header><b>genad serve</b><span id="model">loading the model&hellip;</span></header>
<main>
<label id="drop">Drop images here, or <input id="files" type="file" multiple accept="image/*">
</label>
<div id="controls">
<label><input id="show" type="checkbox" checked> heat map</label>
<label>opacity <input id="opacity" type="range" min="0" max="1" step="0.05" value="0.55">
</label>
<span id="status"></span></div>
<div id="results"></div>
</main>
<script>
"use strict";
const $ = s => document.querySelector(s);
let limits = {max_files: 64};
const fmt = v => Number(v).toPrecision(4);
fetch("health").then(r => r.json()).then(h => {
  limits = h;
  $("#model").textContent = `${h.model}: ${h.input_size[0]}\\u00d7${h.input_size[1]} ` +
    `${h.channels === 1 ? "grey" : "RGB"}, threshold ${fmt(h.threshold)}` +
    (h.maps ? "" : " (this model gives no heat maps)");
}).catch(e => status("cannot reach the server: " + e, true));
function status(text, error) {
  $("#status").textContent = text; $("#status").className = error ? "error" : "";
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function card(file, row) {
  const c = el("div", "card " + (row.why ? "skipped" : row.anomalous ? "anomalous" : "normal"));
  if (row.why) { c.append(el("div", "name", row.name), el("div", "why", row.why)); return c; }
  const view = el("div", "view"), photo = el("img", "photo");
  photo.src = URL.createObjectURL(file); photo.alt = file.name;
  view.append(photo);
  view.style.aspectRatio = row.size[1] + " / " + row.size[0];
  if (row.size[1] < 128) photo.classList.add("small");
  if (row.heat_map) {
    const heat = el("img", "heat");
    heat.src = "data:image/png;base64," + row.heat_map; heat.alt = "heat map of " + file.name;
    heat.style.opacity = $("#show").checked ? $("#opacity").value : 0;
    view.append(heat);
  }
  c.append(view, el("div", "name", row.name));
  const line = el("div");
  line.append(el("span", "badge", row.anomalous ? "anomalous" : "normal"), " ",
              el("span", "num score", "score " + fmt(row.score)));
  c.append(line, el("div", "num", `higher than ${(100 * row.calibrated).toFixed(1)}% of ` +
                    "the held-out normal images"));
  return c;
}
async function scoreAll(files) {
  if (!files.length) return;
  $("#results").replaceChildren();
  let scale = null, done = 0;
  for (let i = 0; i < files.length; i += limits.max_files) {
    const part = files.slice(i, i + limits.max_files), form = new FormData();
    for (const f of part) form.append("files", f, f.name);
    status(`scoring ${files.length} image(s)\\u2026`);
    const url = "score" + (scale ? "?map_scale=" + scale : "");
    let body;
    try {
      const r = await fetch(url, {method: "POST", body: form});
      body = await r.json().catch(() => ({detail: r.status + " " + r.statusText}));
      if (!r.ok && !body.skipped) throw new Error(body.detail);
    } catch (e) { status(String(e.message || e), true); return; }
    scale = scale || body.map_scale;
    const rows = [...body.scores, ...body.skipped].sort((a, b) => a.index - b.index);
    for (const row of rows) $("#results").append(card(part[row.index], row));
    done += body.scores.length;
  }
  status(`${done} of ${files.length} image(s) scored` +
         (done < files.length ? "; the others could not be read" : ""), done < files.length);
}
$("#files").addEventListener("change", e => scoreAll([...e.target.files]));
const drop = $("#drop");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over"); scoreAll([...e.dataTransfer.files]);
});
function restyle() {
  for (const h of document.querySelectorAll("img.heat"))
    h.style.opacity = $("#show").checked ? $("#opacity").value : 0;
}
$("#show").addEventListener("change", restyle); $("#opacity").addEventListener("input", restyle);
</script></body></html>
"""
