"""``vesselseg serve``: the JSON API in-process (Starlette's TestClient, the real worker process and
the shipped DRIVE weights), hostile uploads, concurrency, expiry and clean-up, and the page in a
real headless Chromium against the real server started as ``vesselseg serve``.

The browser test uses the system's Chromium (``apt-get install chromium``; ``tools/ci_browser.sh``
installs it in CI). Without it the test is skipped on a developer machine and fails under CI.
"""

import csv
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason='the server extra is not installed (pip install "vesselseg[serve]")')
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from conftest import (
    default_sigint,  # noqa: E402
    fundus,  # noqa: E402
    record_case,  # noqa: E402  (the bad-input catalogue)
)
from starlette.testclient import TestClient  # noqa: E402

from vesselseg.inference.weights import shipped_weights  # noqa: E402
from vesselseg.measure import COLUMNS  # noqa: E402
from vesselseg.serve.app import create_app, loopback_hosts  # noqa: E402
from vesselseg.serve.service import RESULT_FILES, Limits, ResultStore, Service, display_name, shipped_names  # noqa: E402

pytestmark = pytest.mark.skipif("drive" not in shipped_weights(), reason="shipped DRIVE weights not present")

UPLOAD_LIMIT = 2_000_000


def png_bytes(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(arr, quality=92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bomb(width=30_000, height=30_000) -> bytes:
    """A valid PNG of a few hundred bytes whose header declares ``width x height`` pixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 1000)  # far too little data: the size check must come first
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def api(serve_dir):
    """``(client, service)`` around the real app, worker process and shipped weights."""
    limits = Limits(max_upload_bytes=UPLOAD_LIMIT, time_limit_s=300, result_ttl_s=600, max_results=20)
    service = Service("drive", limits, threads=1, temp_parent=serve_dir)
    with TestClient(create_app(service, allowed_hosts={"testserver"})) as client:
        yield client, service
    assert not service.store.root.exists(), "results must be deleted when the server stops"


def post(client, content, name="photo.png", mime="image/png", **fields):
    return client.post("/api/segment", files={"file": (name, content, mime)}, data=fields)


# --- API ----------------------------------------------------------------------------------------

def test_health(api):
    client, _ = api
    r = client.get("/api/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["version"]
    assert h["weights"] == sorted(shipped_weights(vessels_only=True)) and h["default_weights"] == "drive"
    assert "disc" not in h["weights"]  # the optic disc model is not a vessel model
    assert h["limits"]["max_upload_bytes"] == UPLOAD_LIMIT and h["limits"]["max_pixels"] > 0
    assert h["worker"] in ("ready", "loading", "busy")
    assert "overlay" in h["layers"]
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_shipped_names_match_the_engine():
    assert shipped_names() == sorted(shipped_weights(vessels_only=True))


@pytest.mark.slow
def test_segment_gives_the_cli_pipeline_results(api):
    """Same mask as the library's Segmenter, the measure columns, and every linked file."""
    from vesselseg.segmentation import Segmenter

    client, _ = api
    photo = fundus()
    r = post(client, png_bytes(photo), name="synthetic.png", weights="drive", threshold="0.5")
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["width"], d["height"]) == (200, 160)
    assert d["image"] == "synthetic" and d["weights"] == "drive"
    assert d["fov"]["source"] == "derived" and d["fov"]["diameter_px"] > 100
    assert d["scale"]["factor"] > 1 and d["scale"]["reference_fov_px"] == 540.0
    assert d["columns"][: len(COLUMNS)] == list(COLUMNS) and set(COLUMNS) <= set(d["measurements"])
    if "av" in shipped_weights():  # the artery/vein split: its layer, files and biomarker columns
        assert "av" in {layer["id"] for layer in d["layers"]}
        assert {"artery_density", "vein_density", "avr_knudtson", "disc_source"} <= set(d["columns"])
    assert d["measurements"]["image"] == "synthetic"
    assert {"overlay", "vessels", "prob", "widths"} <= {layer["id"] for layer in d["layers"]}
    for layer in d["layers"]:
        f = client.get(layer["url"])
        assert f.status_code == 200 and f.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(f.content)).size == (200, 160)
    vessels = np.asarray(Image.open(io.BytesIO(client.get(f"/api/results/{d['id']}/vessels.png").content))) > 0
    expected = Segmenter("drive").run(photo).vessels
    assert np.array_equal(vessels, expected)
    assert d["measurements"]["vessel_pixels"] == int(expected.sum())
    downloads = {x["name"]: x["url"] for x in d["downloads"]}
    assert {"synthetic_vessels.png", "synthetic_prob.png", "synthetic_overlay.png", "synthetic_measurements.csv",
            "synthetic_measurements.json"} <= set(downloads)
    table = client.get(downloads["synthetic_measurements.csv"])
    assert 'filename="synthetic_measurements.csv"' in table.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert list(rows[0])[: len(COLUMNS)] == list(COLUMNS) and rows[0]["image"] == "synthetic"
    detail = client.get(downloads["synthetic_measurements.json"]).json()
    assert detail[0]["summary"]["vessel_pixels"] == d["measurements"]["vessel_pixels"]
    prob = np.asarray(Image.open(io.BytesIO(client.get(f"/api/results/{d['id']}/prob.png").content)))
    assert prob.dtype == np.uint16 or prob.max() > 255  # the CLI's 16-bit probability PNG


# --- hostile and bad uploads ------------------------------------------------------------------

def _truncated_jpeg():
    data = jpeg_bytes(fundus())
    return data[: len(data) // 2]


BAD_UPLOADS = {
    # case: (files, form fields, expected status, fragment of the message)
    "text file named .png": ({"file": ("notes.png", b"this is not a photograph\n", "image/png")}, {}, 422,
                             "notes.png: not an image"),
    "truncated JPEG": ({"file": ("cut.jpg", _truncated_jpeg(), "image/jpeg")}, {}, 422, "cut.jpg"),
    "decompression bomb (PNG declaring 30000x30000)": ({"file": ("bomb.png", png_bomb(), "image/png")}, {}, 422,
                                                       "more than the limit"),
    "0-byte file": ({"file": ("empty.jpg", b"", "image/jpeg")}, {}, 400, "empty"),
    "file over the upload limit": ({"file": ("big.png", b"\0" * (UPLOAD_LIMIT + 1), "image/png")}, {}, 413,
                                   "upload limit"),
    "request far over the upload limit": ({"file": ("huge.png", b"\0" * (UPLOAD_LIMIT + 100_000), "image/png")}, {},
                                          413, "larger than the upload limit of 2 MB"),
    "no file field": ({}, {"photo": "x"}, 400, "field 'file'"),
    "two files": ({"file": [("a.png", b"a", "image/png"), ("b.png", b"b", "image/png")]}, {}, 400, "files"),
    "weights given as a path": ({"file": ("p.png", b"x", "image/png")}, {"weights": "/etc/passwd"}, 400,
                                "unknown weights"),
    "weights given as a relative .safetensors path": (
        {"file": ("p.png", b"x", "image/png")}, {"weights": "../weights/drive.safetensors"}, 400, "choose one of"),
    "threshold not a number": ({"file": ("p.png", b"x", "image/png")}, {"threshold": "nan"}, 400, "threshold"),
    "threshold above 1": ({"file": ("p.png", b"x", "image/png")}, {"threshold": "3"}, 400, "threshold"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_gives_4xx_message(api, case, caplog):
    client, service = api
    files, fields, status, fragment = BAD_UPLOADS[case]
    if isinstance(files.get("file"), list):
        files = [("file", f) for f in files["file"]]
    r = client.post("/api/segment", files=files, data=fields)
    record_case(f"serve API: {case}", rc=r.status_code, message=r.json().get("error"))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert fragment in message, message
    assert "Traceback" not in r.text and str(service.store.root) not in message
    assert not any(rec.exc_info or "Traceback" in rec.getMessage() for rec in caplog.records)
    assert client.get("/api/health").json()["status"] == "ok"  # the server keeps running
    assert len(list(service.store.root.iterdir())) == len(service.store)  # no folder left by a failure


def test_streamed_upload_without_length_is_cut_at_the_limit(api):
    """A chunked body (no Content-Length) is counted while it arrives and refused past the limit."""
    client, service = api
    boundary = "vesselsegtestboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stream.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(UPLOAD_LIMIT // 100_000 + 2):
            yield b"\0" * 100_000
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/api/segment", content=body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and r.json()["error"].startswith("request is larger than the upload limit")
    assert len(list(service.store.root.iterdir())) == len(service.store)


def test_json_body_instead_of_multipart(api):
    client, _ = api
    r = client.post("/api/segment", json={"file": "x"})
    assert r.status_code == 400 and "multipart" in r.json()["error"]


@pytest.mark.slow
def test_upload_name_never_becomes_a_path(api, serve_dir):
    client, service = api
    before = {p for p in serve_dir.parent.rglob("*") if not p.is_relative_to(service.store.root)}
    r = post(client, png_bytes(fundus(seed=3)), name="../../x.png")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["file_name"] == "x.png" and d["image"] == "x"
    after = {p for p in serve_dir.parent.rglob("*") if not p.is_relative_to(service.store.root)}
    assert after == before, f"written outside the server's folder: {after - before}"
    assert not list(serve_dir.parent.parent.glob("x.png")) and not list(serve_dir.parent.glob("x.png"))
    folder = service.store.root / d["id"]
    assert {p.name for p in folder.iterdir()} <= set(RESULT_FILES.values())  # the upload itself is gone
    for p in service.store.root.rglob("*"):
        assert p.resolve().is_relative_to(service.store.root.resolve())


@pytest.mark.parametrize("raw, name, stem", [
    ("../../x.png", "x.png", "x"), ("C:\\photos\\eye 1.jpg", "eye 1.jpg", "eye 1"), ("", "image", "image"),
    ("..", "image", "image"), ("a/b/<script>.png", "_script_.png", "_script_"), ("Aufnahme_ü.tif", "Aufnahme_ü.tif", "Aufnahme_ü"),
])
def test_display_name(raw, name, stem):
    assert display_name(raw) == (name, stem)


@pytest.mark.slow
def test_unknown_results_are_404(api):
    client, _ = api
    assert client.get("/api/results/nosuchidnosuchidnosuchid/vessels.png").status_code == 404
    assert client.get("/api/results/..%2F..%2Fetc/passwd").status_code == 404
    d = post(client, png_bytes(fundus(seed=4))).json()
    assert client.get(f"/api/results/{d['id']}/image.png").status_code == 404  # the upload is not kept
    assert client.get(f"/api/results/{d['id']}/..%2Fvessels.png").status_code == 404
    assert client.delete(f"/api/results/{d['id']}").status_code == 204
    assert client.get(f"/api/results/{d['id']}/vessels.png").status_code == 404


@pytest.mark.slow
def test_two_uploads_at_once_keep_their_own_results(api):
    client, _ = api
    photos = {"small.png": fundus(160, 200, 70, seed=1), "large.png": fundus(220, 260, 100, seed=2)}
    out = {}

    def upload(name):
        out[name] = post(client, png_bytes(photos[name]), name=name)

    threads = [threading.Thread(target=upload, args=(n,)) for n in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert out["small.png"].json()["id"] != out["large.png"].json()["id"]
    for name, photo in photos.items():
        d = out[name].json()
        assert out[name].status_code == 200 and d["file_name"] == name
        assert (d["height"], d["width"]) == photo.shape[:2] and d["measurements"]["image"] == name[:-4]
        img = Image.open(io.BytesIO(client.get(f"/api/results/{d['id']}/overlay.png").content))
        assert img.size == (photo.shape[1], photo.shape[0])


# --- cross-origin, host, no CORS ---------------------------------------------------------------

def test_cross_origin_requests_are_refused(api):
    client, _ = api
    png = png_bytes(fundus())
    r = client.post("/api/segment", files={"file": ("a.png", png, "image/png")}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = client.post("/api/segment", files={"file": ("a.png", png, "image/png")}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.post("/api/segment", files={"file": ("a.png", png, "image/png")}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert client.delete("/api/results/abcdefghijklmnopqrstuvwx", headers={"Origin": "http://evil.example"}).status_code == 403
    r = client.options("/api/segment", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers and r.status_code >= 400
    r = client.post("/api/segment", files={"file": ("a.png", b"", "image/png")}, headers={"Origin": "http://testserver"})
    assert r.status_code == 400  # same origin: passes the check (and then fails on the empty file)


def test_host_header_is_checked(api):
    client, _ = api
    r = client.get("/api/health", headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "Host" in r.json()["error"]
    assert client.get("/", headers={"Host": "attacker.example:8000"}).status_code == 400


def test_loopback_hosts():
    assert {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"} <= loopback_hosts("127.0.0.1", 8000)
    assert "localhost:8123" in loopback_hosts("localhost", 8123)
    assert loopback_hosts("0.0.0.0", 8000) is None and loopback_hosts("192.168.1.5", 8000) is None


def test_page_and_static_files(api):
    client, _ = api
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in r.text and "/static/style.css" in r.text
    for name in ("app.js", "style.css"):
        f = client.get(f"/static/{name}")
        assert f.status_code == 200
        assert "http://" not in f.text and "https://" not in f.text  # nothing loaded from elsewhere
    assert "http://" not in r.text and "https://" not in r.text
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404


def test_static_files_are_package_data():
    from importlib import resources

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"vesselseg.serve" = ["static/*.html", "static/*.js", "static/*.css"]' in text
    for name in ("index.html", "app.js", "style.css"):
        assert (resources.files("vesselseg.serve") / "static" / name).is_file()


# --- limits, expiry, shutdown ------------------------------------------------------------------

def test_result_store_expires_and_caps(tmp_path):
    store = ResultStore(ttl=0.3, max_results=2, parent=tmp_path)
    items = []
    for _ in range(3):
        item = store.reserve()
        (item.folder / "photo.png").write_bytes(b"x")
        store.publish(item, {"image": "a"})
        items.append(item)
    assert len(store) == 2 and not items[0].folder.exists()  # the oldest is dropped beyond the cap
    assert store.file(items[2].rid, "photo.png") is not None
    assert store.file(items[2].rid, "../photo.png") is None
    time.sleep(0.4)
    assert store.get(items[2].rid) is None and not items[2].folder.exists()  # expired
    assert len(store) == 0
    pending = store.reserve()  # a result in progress is never swept
    store.sweep()
    assert pending.folder.exists()
    store.close()
    assert not store.root.exists()


@pytest.mark.slow
def test_time_limit_stops_the_job_and_the_server_recovers(api):
    client, service = api
    post(client, png_bytes(fundus(seed=5)))  # the worker is up
    starts = service.worker.starts
    service.limits.time_limit_s = 0.01
    try:
        r = post(client, png_bytes(fundus(seed=6)), name="slow.png")
    finally:
        service.limits.time_limit_s = 300
    assert r.status_code == 504 and "slow.png: processing took longer than the limit" in r.json()["error"]
    assert len(list(service.store.root.iterdir())) == len(service.store)
    r = post(client, png_bytes(fundus(seed=6)), name="again.png")
    assert r.status_code == 200 and service.worker.starts == starts + 1


@pytest.mark.slow
def test_shutdown_removes_every_file(tmp_path):
    service = Service("drive", Limits(), threads=1, temp_parent=tmp_path)
    with TestClient(create_app(service, allowed_hosts={"testserver"})) as client:
        d = post(client, png_bytes(fundus(seed=7))).json()
        assert (service.store.root / d["id"] / "image_vessels.png").is_file()
        proc = service.worker._proc
    assert not service.store.root.exists() and list(tmp_path.iterdir()) == []
    assert proc is not None and not proc.is_alive()


# --- the command --------------------------------------------------------------------------------

def test_serve_without_the_extra_is_one_clear_error(monkeypatch, capsys):
    import importlib.util

    from vesselseg.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'error: vesselseg serve needs the server extra: pip install "vesselseg[serve]" (missing: uvicorn)'


def test_serve_refuses_weights_that_are_not_shipped(capsys, tmp_path):
    from vesselseg.cli import main

    assert main(["serve", "--weights", str(tmp_path / "model.safetensors")]) == 2
    assert "serve offers only the shipped weights" in capsys.readouterr().err


def test_serve_warns_when_exposed(monkeypatch, capsys):
    import vesselseg.serve.app as app_module
    from vesselseg.cli import main

    calls = []
    monkeypatch.setattr(app_module, "serve", lambda *a, **k: calls.append(a))
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert calls and calls[0][:3] == ("0.0.0.0", 8123, "drive")
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 serves the page and the API to every machine" in err and "no login" in err
    assert main(["serve", "--port", "8123"]) == 0  # localhost: no warning
    assert "warning" not in capsys.readouterr().err


def test_readme_test_command_is_ci_run():
    """The README's test command and .ci/run stay the same line (it installs Chromium for CI)."""
    root = Path(__file__).resolve().parents[1]
    ci = [line for line in (root / ".ci/run").read_text().splitlines() if line.startswith("pip install")]
    assert len(ci) == 1 and "bash tools/ci_browser.sh" in ci[0]
    readme = (root / "README.md").read_text().splitlines()
    assert readme[readme.index(next(x for x in readme if x.startswith("# Tests (what CI runs"))) + 1] == ci[0]


# --- the page in a real browser -----------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium_or_skip() -> str:
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Playwright is not installed (pip install playwright)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        problems.append("no chromium on PATH (apt-get install chromium, or bash tools/ci_browser.sh)")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("the browser test must run in CI: " + "; ".join(problems))
        pytest.skip("browser test: " + "; ".join(problems))
    return chromium


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_page_in_a_real_browser(tmp_path):
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    from vesselseg.sample import sample_image

    sample = tmp_path / "sample_retina.jpg"
    sample.write_bytes(jpeg_bytes(np.rint(sample_image() * 255).astype(np.uint8)))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a photograph\n")
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(os.urandom(2_500_000))
    server_tmp = tmp_path / "server_tmp"
    server_tmp.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, VESSELSEG_THREADS="1", OMP_NUM_THREADS="1", TMPDIR=str(server_tmp))
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "vesselseg", "serve", "--port", str(port),
                                   "--max-upload-mb", "2"], stdout=log, stderr=subprocess.STDOUT, env=env,
                                  preexec_fn=default_sigint)
    try:
        import urllib.request

        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.time() < deadline, "the server did not answer within 120 s"
            time.sleep(0.5)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
            page_errors, elsewhere = [], []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith((base, "blob:", "data:")) else None)
            page.goto(base + "/")
            page.wait_for_function("() => document.querySelectorAll('#weights option').length > 0")
            options = page.eval_on_selector_all("#weights option", "els => els.map(e => e.value)")
            assert options == sorted(shipped_weights(vessels_only=True)) and page.input_value("#weights") == "drive"
            assert "2 MB per file" in page.inner_text("#limits")

            # a batch: the sample photograph, a broken file and one over the size limit
            page.set_input_files("#file-input", [str(sample), str(broken), str(huge)])
            # (functions, not expressions: the page's CSP forbids eval, which string expressions need)
            page.wait_for_function("() => document.querySelectorAll('.card[data-status=done], "
                                   ".card[data-status=error]').length === 3", timeout=600_000)
            page.wait_for_function("() => { const i = document.querySelector('.card[data-status=done] "
                                   "img[data-layer=overlay]'); return i && i.complete && i.naturalWidth > 0; }")
            assert page.inner_text("#progress-text") == "Finished: 1 done, 2 failed, of 3"
            errors = page.eval_on_selector_all(".card[data-status=error] .message", "els => els.map(e => e.textContent)")
            assert any("broken.png: not an image" in e for e in errors), errors
            assert any("huge.jpg" in e and "larger than the upload limit of 2 MB" in e for e in errors), errors

            done = ".card[data-status=done]"
            rows = page.eval_on_selector_all(f"{done} table.measurements tr",
                                             "rows => rows.map(r => [r.dataset.column, r.querySelector('td').textContent])")
            table = dict(rows)
            assert [c for c, _ in rows][: len(COLUMNS)] == list(COLUMNS)
            assert table["image"] == "sample_retina" and table["fov_source"] == "derived"
            if "av" in shipped_weights():  # the artery/vein split: its biomarkers in the table, its layer
                assert "avr_knudtson" in table and table["disc_source"] == "detected"
                assert page.locator(f"{done} input[data-layer=av]").count() == 1
            assert 0.08 < float(table["density"]) < 0.3 and int(table["segments"]) > 50

            page.check(f"{done} input[data-layer=vessels]")
            page.wait_for_function("() => { const i = document.querySelector('.card[data-status=done] "
                                   "img[data-layer=vessels]'); return !i.hidden && i.complete && i.naturalWidth === 1411; }")
            page.uncheck(f"{done} input[data-layer=vessels]")

            with page.expect_download() as info:
                page.click(f"{done} .downloads a[download='sample_retina_measurements.csv']")
            saved = tmp_path / "downloaded.csv"
            info.value.save_as(saved)
            downloaded = list(csv.DictReader(saved.open()))
            assert list(downloaded[0])[: len(COLUMNS)] == list(COLUMNS) and downloaded[0]["image"] == "sample_retina"
            assert int(downloaded[0]["segments"]) == int(table["segments"])

            # drag and drop, with a broken file: a message in the page, nothing else disturbed
            transfer = page.evaluate_handle("() => { const dt = new DataTransfer(); dt.items.add(new File("
                                            "['hello'], 'dropped.png', {type: 'image/png'})); return dt; }")
            page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
            page.wait_for_function("() => document.querySelectorAll('.card[data-status=error]').length === 3")
            assert "dropped.png: not an image" in page.inner_text(".card[data-name='dropped.png'] .message")
            assert page.inner_text("#progress-text") == "Finished: 0 done, 1 failed, of 1"

            page.wait_for_timeout(300)
            shot = tmp_path / "serve_screenshot.png"
            page.screenshot(path=str(shot), full_page=True)
            try:
                shutil.copy(shot, "/tmp/serve_screenshot.png")  # for a person to look at
            except OSError:
                pass
            browser.close()
        assert not page_errors, page_errors
        assert not elsewhere, f"the page requested something from elsewhere: {elsewhere}"
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log_text = log_path.read_text()
    assert server.returncode == 130 and log_text.rstrip().endswith("interrupted"), log_text
    assert "Traceback" not in log_text, log_text
    assert f"vesselseg serve: http://127.0.0.1:{port}/" in log_text
    assert "refused upload (422): broken.png: not an image" in log_text
    assert list(server_tmp.iterdir()) == [], "temporary files left after the server stopped"
