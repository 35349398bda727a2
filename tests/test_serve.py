"""`genad serve` over real HTTP: uvicorn on a free loopback port (in a thread, and once as the
`genad serve` command), tiny detectors (16 px, width 8, one epoch) and, where Debian's
chromium is installed, a headless browser on its page."""

from __future__ import annotations

import ast
import base64
import io
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra: pip install -e '.[dev]'")
pytest.importorskip("uvicorn", reason="the serve extra: pip install -e '.[dev]'")
httpx = pytest.importorskip("httpx", reason="the dev extra: pip install -e '.[dev]'")

import genad  # noqa: E402
from genad import serve  # noqa: E402
from genad.cli import main  # noqa: E402

MAX_BYTES, MAX_FILES = 200_000, 8  # the test servers' caps
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits16, small_settings) -> dict[str, Path]:
    """Folders of a fitted ae (gives heat maps) and deep-svdd (gives none)."""
    out = tmp_path_factory.mktemp("models")
    for name in ("ae", "deep-svdd"):
        genad.create(name, **small_settings).fit(digits16).save(out / name)
    return {name: out / name for name in ("ae", "deep-svdd")}


@pytest.fixture(scope="module")
def images(tmp_path_factory, digits16) -> dict[str, Path]:
    """Image files: three digits at the model's 16x16, an RGB 20x24 noise PNG, a JPEG, and
    a file that is not an image."""
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for i in range(3):
        paths[f"digit{i}"] = folder / f"digit{i}.png"
        Image.fromarray(digits16[i, 0].numpy()).save(paths[f"digit{i}"])
    rng = np.random.default_rng(0)
    paths["colour"] = folder / "colour.png"
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(paths["colour"])
    paths["jpeg"] = folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).save(paths["jpeg"])
    paths["garbage"] = folder / "garbage.png"
    paths["garbage"].write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return paths


def _serve(app) -> Iterator[str]:
    sock = serve.bind("127.0.0.1", 0)
    server = serve.server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def ae_app(models):
    return serve.create_app(models["ae"], max_bytes=MAX_BYTES, max_files=MAX_FILES)


@pytest.fixture(scope="module")
def ae_url(ae_app) -> Iterator[str]:
    yield from _serve(ae_app)


@pytest.fixture(scope="module")
def svdd_url(models) -> Iterator[str]:
    yield from _serve(serve.create_app(models["deep-svdd"]))


def post(url: str, paths: list[Path], **params) -> httpx.Response:
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    return httpx.post(f"{url}/score", files=files, params=params, timeout=30)


def genad_score(run: Path, paths: list[Path], tmp: Path, maps: Path | None = None) -> dict:
    """What `genad score RUN FILES --out x.json [--maps DIR]` writes."""
    out = tmp / "scores.json"
    assert main(["score", str(run), *map(str, paths), "--out", str(out),
                 *(["--maps", str(maps)] if maps else [])]) == 0
    return json.loads(out.read_text())


def png(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


# ---- the API --------------------------------------------------------------------------------
def test_health_describes_the_model(ae_url, svdd_url, models) -> None:
    det = genad.load(str(models["ae"]))
    h = httpx.get(f"{ae_url}/health").json()
    assert h == {"status": "ok", "model": "ae", "input_size": [16, 16], "network_size": 16,
                 "channels": 1, "threshold": det.threshold_, "maps": True,
                 "genad": genad.__version__, "max_bytes": MAX_BYTES, "max_files": MAX_FILES}
    h = httpx.get(f"{svdd_url}/health").json()
    assert h["model"] == "deep-svdd" and h["maps"] is False
    assert h["max_bytes"] == serve.DEFAULT_MAX_MB * 2**20


def test_one_image_scores_as_genad_score_does(ae_url, models, images, tmp_path) -> None:
    r = post(ae_url, [images["digit0"]])
    assert r.status_code == 200, r.text
    got, want = r.json(), genad_score(models["ae"], [images["digit0"]], tmp_path)
    assert got["threshold"] == want["threshold"] and got["skipped"] == []
    (row,) = got["scores"]
    assert row["name"] == "digit0.png" and row["index"] == 0 and row["size"] == [16, 16]
    assert {k: row[k] for k in ("score", "calibrated", "anomalous")} == \
        {k: want["scores"][0][k] for k in ("score", "calibrated", "anomalous")}


def test_many_images_of_any_size_and_colour_score_as_genad_score_does(
        ae_url, models, images, tmp_path) -> None:
    paths = [images[k] for k in ("digit1", "colour", "jpeg", "digit2")]
    got = post(ae_url, paths).json()
    want = genad_score(models["ae"], paths, tmp_path)
    assert [r["name"] for r in got["scores"]] == [p.name for p in paths]
    assert [r["size"] for r in got["scores"]] == [[16, 16], [20, 24], [30, 30], [16, 16]]
    for g, w in zip(got["scores"], want["scores"]):
        assert (g["score"], g["calibrated"], g["anomalous"]) == \
            (w["score"], w["calibrated"], w["anomalous"])


def test_heat_maps_are_genad_scores_maps(ae_url, models, images, tmp_path) -> None:
    """The heat map (base64 PNG at the model's input size) is the PNG `genad score --maps`
    writes for a file of that size; maps=false leaves it out; map_scale sets white-hot."""
    got = post(ae_url, [images["digit0"]]).json()
    genad_score(models["ae"], [images["digit0"]], tmp_path, maps=tmp_path / "maps")
    want = np.asarray(Image.open(tmp_path / "maps" / "digit0_map.png"))
    assert want.shape == (16, 16, 3)
    np.testing.assert_array_equal(png(got["scores"][0]["heat_map"]), want)
    assert got["map_scale"] > 0
    plain = post(ae_url, [images["digit0"]], maps="false").json()
    assert "heat_map" not in plain["scores"][0] and plain["map_scale"] is None
    assert plain["scores"][0]["score"] == got["scores"][0]["score"]
    dim = post(ae_url, [images["digit0"]], map_scale=got["map_scale"] * 1000).json()
    assert dim["map_scale"] == got["map_scale"] * 1000
    assert png(dim["scores"][0]["heat_map"]).max() < want.max()
    bad = post(ae_url, [images["digit0"]], map_scale=-1)
    assert bad.status_code == 422 and "map_scale" in bad.json()["detail"]


def test_a_model_without_maps_gives_none(svdd_url, images) -> None:
    got = post(svdd_url, [images["digit0"], images["colour"]]).json()
    assert len(got["scores"]) == 2 and got["map_scale"] is None
    assert all("heat_map" not in r for r in got["scores"])


def test_unreadable_files_are_listed_and_the_others_scored(ae_url, images) -> None:
    paths = [images["digit0"], images["garbage"], images["digit1"]]
    r = post(ae_url, paths)
    assert r.status_code == 200
    got = r.json()
    assert [(s["index"], s["name"]) for s in got["scores"]] == [(0, "digit0.png"),
                                                              (2, "digit1.png")]
    (skip,) = got["skipped"]
    assert skip["index"] == 1 and skip["name"] == "garbage.png"
    assert skip["why"].startswith("cannot read image garbage.png:") and "\n" not in skip["why"]
    only = post(ae_url, [images["garbage"]])
    assert only.status_code == 422 and only.json()["detail"] == skip["why"]
    assert len(only.json()["skipped"]) == 1
    two = post(ae_url, [images["garbage"]] * 2)
    assert two.status_code == 422
    assert two.json()["detail"] == \
        f"none of the 2 files could be read as an image (first: {skip['why']})"


def test_requests_that_are_not_image_uploads_get_a_one_line_4xx(ae_url, images) -> None:
    score = f"{ae_url}/score"
    answers = {
        415: httpx.post(score, content=b"{}", headers={"content-type": "application/json"}),
        400: httpx.post(score, files={"note": (None, "hello")}),  # a form without a file
        413: post(ae_url, [images["digit0"]] * (MAX_FILES + 1)),
        422: post(ae_url, [images["digit0"]], maps="perhaps"),
    }
    detail = {code: r.json()["detail"] for code, r in answers.items()}
    assert {code: r.status_code for code, r in answers.items()} == {415: 415, 400: 400, 413: 400,
                                                                    422: 422}
    assert "multipart/form-data" in detail[415]
    assert detail[400].startswith("no files in the request")
    assert detail[413].startswith(f"more than {MAX_FILES} files in one request")
    assert detail[422].startswith("query.maps:")
    assert all(isinstance(d, str) and "\n" not in d for d in detail.values())
    assert httpx.get(f"{ae_url}/health").status_code == 200


def test_a_request_over_the_cap_gets_413_whether_or_not_it_says_its_length(ae_url) -> None:
    big = b"\0" * (MAX_BYTES + 1)
    r = httpx.post(f"{ae_url}/score", files={"files": ("big.png", big)})
    assert "content-length" in r.request.headers
    assert r.status_code == 413 and "--max-mb" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield (b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
               b"Content-Type: image/png\r\n\r\n")
        for _ in range(3 * MAX_BYTES // 65536):
            yield b"\0" * 65536
        yield b"\r\n--b--\r\n"

    r = httpx.post(f"{ae_url}/score", content=chunks(),
                   headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413 and "--max-mb" in r.json()["detail"]
    assert httpx.get(f"{ae_url}/health").status_code == 200


def test_scoring_waits_for_the_model_without_blocking_the_server(ae_url, ae_app,
                                                                 images) -> None:
    """One request scores at a time (the model's lock), off the event loop: while a request
    waits for the model, /health still answers."""
    lock = ae_app.state.scorer.lock
    result = {}
    with lock:
        worker = threading.Thread(target=lambda: result.update(r=post(ae_url,
                                                                      [images["digit0"]])))
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive()  # waiting for the model
        t = time.perf_counter()
        assert httpx.get(f"{ae_url}/health", timeout=5).status_code == 200
        assert time.perf_counter() - t < 2
    worker.join(30)
    assert result["r"].status_code == 200


def test_the_page_is_self_contained(ae_url) -> None:
    r = httpx.get(f"{ae_url}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "<script>" in r.text and "<style>" in r.text
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text


# ---- the page in a browser -------------------------------------------------------------------
def _until(page, js: str, timeout: float = 15.0) -> None:
    """Poll `js` (a function) in the page from here: Playwright's own wait_for_function
    compiles its predicate with eval, which the page's policy (no unsafe-eval) refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"timed out waiting for {js}"
        time.sleep(0.05)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install "
                    "chromium); the browser test of the serve page needs it")
def test_the_page_scores_an_upload_in_a_browser(ae_url, images, tmp_path) -> None:
    """Headless chromium loads /, an image is set on the page's file input, and the card with
    its score, label and heat map appears; a file that is not an image gets a card saying
    why; the page asks nothing of any other server."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    want = post(ae_url, [images["colour"]]).json()["scores"][0]
    requests, problems = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 600})
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.goto(f"{ae_url}/")
            _until(page, "() => document.querySelector('#model').textContent.startsWith('ae:')")
            page.set_input_files("#files", str(images["colour"]))
            _until(page, "() => document.querySelectorAll('.card img').length == 2 && [...document"
                   ".querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)")
            heat = page.query_selector(".card img.heat")
            assert heat is not None and heat.evaluate("i => i.naturalWidth") == 16
            expected = page.evaluate(f"() => Number({want['score']!r}).toPrecision(4)")
            assert page.text_content(".card .score") == f"score {expected}"
            label = "anomalous" if want["anomalous"] else "normal"
            assert page.text_content(".card .badge") == label
            page.screenshot(path=str(tmp_path / "serve_page.png"), full_page=True)

            page.set_input_files("#files", str(images["garbage"]))
            _until(page, "() => document.querySelector('.card.skipped') !== null")
            assert page.text_content(".card.skipped .why").startswith(
                "cannot read image garbage.png")
            assert "0 of 1 image(s) scored" in page.text_content("#status")
        finally:
            browser.close()
    assert Image.open(tmp_path / "serve_page.png").size[0] == 900
    assert not [m for m in problems if "422" not in m], problems  # the console notes the 422
    outside = [u for u in requests if not u.startswith((ae_url, "data:", "blob:"))]
    assert not outside, outside


# ---- the command -------------------------------------------------------------------------------
def test_genad_serve_runs_and_stops(models, tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "genad", "serve", str(models["ae"]),
                             "--port", "0", "--max-mb", "1", "--max-files", "3",
                             "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("genad serve: ae from "), (line, proc.stderr.read())
        url = line.split(" at ")[1].split()[0].rstrip("/")
        h = httpx.get(f"{url}/health", timeout=10).json()
        assert h["model"] == "ae" and h["max_bytes"] == 2**20 and h["max_files"] == 3
        proc.send_signal(signal.SIGINT)  # Ctrl+C: a clean stop
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out.endswith("genad serve: stopped\n")
    assert "Finished server process" in err and "Traceback" not in err


def test_genad_serve_errors_are_one_line(models, monkeypatch, capsys, tmp_path) -> None:
    taken = serve.bind("127.0.0.1", 0)
    port = str(taken.getsockname()[1])
    try:
        assert main(["serve", str(models["ae"]), "--port", port]) == 2
    finally:
        taken.close()
    err = capsys.readouterr().err.strip()
    assert err.startswith("genad: error: cannot listen on 127.0.0.1:") and "\n" not in err
    assert main(["serve", str(tmp_path / "nothing"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genad: error:") and "nothing" in err and "\n" not in err
    assert main(["serve", str(models["ae"]), "--max-mb", "0"]) == 2
    assert capsys.readouterr().err.strip() == "genad: error: --max-mb must be positive, got 0.0"
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    assert main(["serve", str(models["ae"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "genad: error: genad serve needs uvicorn: pip install 'genad[serve]'"


def test_the_load_script_runs_at_a_tiny_size(models, tmp_path, monkeypatch) -> None:
    """benchmarks/serve_load.py end to end, 16 requests from 2 clients (no timing asserted)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["serve_load.py", "--out", str(tmp_path), "--model",
                                      str(models["ae"]), "--requests", "16", "--clients", "2",
                                      "--warmup", "1", "--direct-calls", "4"])
    module.main()
    got = json.loads((tmp_path / "serve_load.json").read_text())
    assert got["model"] == "ae" and got["input_size"] == [16, 16] and got["direct"]["calls"] == 4
    assert [(r["maps"], r["requests"], r["errors"]) for r in got["rows"]] == [(True, 16, 0),
                                                                              (False, 16, 0)]
    assert all(r["req_per_s"] > 0 and r["p50_ms"] <= r["p99_ms"] for r in got["rows"])
    assert str(tmp_path) not in json.dumps(got)  # no machine paths


def test_serving_stays_out_of_import_genad() -> None:
    """genad.serve imports FastAPI and uvicorn only inside functions, and `import genad` (or
    the CLI's parser) loads neither."""
    tree = ast.parse(Path(serve.__file__).read_text(encoding="utf-8"))
    top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    top += [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert not [m for m in top if m.split(".")[0] in ("fastapi", "uvicorn", "starlette")]
    code = ("import sys, genad, genad.cli; genad.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'fastapi', 'uvicorn', 'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
