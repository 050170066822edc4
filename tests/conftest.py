"""Shared fixtures: the real public data in ../shared/data, skipped when absent."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest

import arrowscope

# napari keeps its settings in the user's config folder: point it at a throw-away
# one for the whole run, before napari is imported, so no test rewrites the
# user's settings.yaml.
_NAPARI_HOME = tempfile.mkdtemp(prefix="arrowscope-tests-napari-")
os.environ["NAPARI_CONFIG"] = os.path.join(_NAPARI_HOME, "settings.yaml")
atexit.register(shutil.rmtree, _NAPARI_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _restore_environment():
    """Undo what an import did to the environment during a test.

    Importing cosmicqc/pycytominer pulls in OpenCV, which points
    ``QT_QPA_PLATFORM_PLUGIN_PATH`` at its own Qt plugins; a Qt application
    created later in the same run would then load the wrong plugins and abort.
    Tests must not depend on their order, so every test starts from the same
    environment.
    """
    before = dict(os.environ)
    yield
    if os.environ != before:
        os.environ.clear()
        os.environ.update(before)


SHARED_DATA = Path(
    os.environ.get(
        "ARROWSCOPE_SHARED_DATA",
        Path(__file__).resolve().parents[2] / "shared" / "data",
    )
)


def _reads_shared_data(func) -> bool:
    import inspect

    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return False
    return "shared_file(" in source or "SHARED_DATA" in source


def pytest_collection_modifyitems(config, items):
    """Mark every test that reads ../shared/data (itself or through one of its
    fixtures) as ``realdata``, so that ``-m "not realdata"`` selects exactly
    the tests a fresh clone can run."""
    for item in items:
        func = getattr(item, "function", None)
        if func is None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        fixtures = [d.func for group in defs for d in group]
        if any(_reads_shared_data(f) for f in [func, *fixtures]):
            item.add_marker(pytest.mark.realdata)


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """``arrowscope ARGS`` in its own process, as a user runs it (a viewer
    command gets a fresh napari, not the one earlier tests configured)."""
    return subprocess.run(
        [sys.executable, "-m", "arrowscope", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def run_as_nobody(code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` as user nobody (as root, chmod does not bite);
    skips the test where the machine cannot (not root, no setpriv, or an
    interpreter other users cannot run)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a check as an unprivileged user")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    home = tempfile.mkdtemp(prefix="arrowscope-nobody-")
    os.chmod(home, 0o777)  # nobody's home and napari settings for this run
    env = {
        **os.environ,
        "HOME": home,
        "NAPARI_CONFIG": os.path.join(home, "settings.yaml"),
    }
    try:
        probe = subprocess.run(
            [*as_nobody, sys.executable, "-c", "import arrowscope"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot run this Python: {probe.stderr[-200:]}")
        return subprocess.run(
            [*as_nobody, sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    finally:  # nobody's home goes with the run
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def shared_tmp():
    """A folder other users can enter (pytest's tmp_path is root's only)."""
    import shutil

    folder = tempfile.mkdtemp(prefix="arrowscope-shared-")
    os.chmod(folder, 0o755)
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def shared_file(*parts: str) -> Path:
    """Path into ../shared/data, skipping the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not present: {path}")
    return path


@pytest.fixture
def cytodataframe_file() -> Path:
    return shared_file("cytodataframe_ome_parquet", "BR00117006.ome.parquet")


# -- a real S3-protocol server on loopback (moto[server]), shared by the suites --
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """``(pyarrow S3FileSystem, port)`` of a moto server on 127.0.0.1, bucket
    ``cells`` created; stopped after the module."""
    moto_server = pytest.importorskip("moto.server")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    fs = pafs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        scheme="http",
        endpoint_override=f"127.0.0.1:{port}",
        allow_bucket_creation=True,
    )
    fs.create_dir("cells")
    yield fs, port
    server.stop()


def upload(fs, local, key):
    """Copy a local file to ``key`` on ``fs``."""
    with open(local, "rb") as src, fs.open_output_stream(key) as dst:
        dst.write(src.read())


@pytest.fixture(scope="module")
def crops(tmp_path_factory, s3):
    """40 random 3x64x64 uint16 crops in ten row groups, uploaded to the bucket."""
    import arrowscope.core.images.writer as writer

    fs, _ = s3
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 4000, (3, 64, 64), dtype=np.uint16) for _ in range(40)]
    local = tmp_path_factory.mktemp("s3") / "crops.ome.parquet"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer, "ROW_GROUP_BYTES", 4 * images[0].nbytes)  # 10 groups
        arrowscope.write_ome_table(
            local,
            {"crop": [{"data": im, "dims": "CYX"} for im in images]},
            extra_columns={"Metadata_Cell": list(range(40))},
        )
    upload(fs, local, "cells/crops.ome.parquet")
    return images, local


@pytest.fixture
def s3_uri(s3, monkeypatch):
    """``uri(key)``: an ``s3://`` URI of ``key`` on the test server, with
    credentials in the environment as a user would have them."""
    _, port = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    return lambda key: f"s3://{key}?{query}"


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def counted(monkeypatch):
    """Every filesystem arrowscope resolves, wrapped to count requests and bytes."""
    import arrowscope.core.images.stores as stores
    from tests.core.test_object_storage import Counting

    counters = []
    real = stores.filesystem_of

    def counting_resolve(source, filesystem=None):
        fs, path = real(source, filesystem)
        if fs is None or isinstance(fs, pafs.PyFileSystem):
            return fs, path
        counter = Counting(fs)
        counters.append(counter)
        return pafs.PyFileSystem(counter), path

    monkeypatch.setattr(stores, "filesystem_of", counting_resolve)

    class Totals:
        def reset(self):
            for c in counters:
                c.reset()

        @property
        def bytes(self):
            return sum(c.bytes for c in counters)

        @property
        def requests(self):
            return sum(c.requests for c in counters)

    return Totals()


# -- a request-logging proxy on loopback, in front of the moto server ----------
class _ProxyHandler(__import__("http.server").server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _forward(self):
        import http.client

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.requests.append((self.command, self.path))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.target, timeout=30)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("connection",)
        }
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status, resp.reason)
        skip = ("transfer-encoding", "connection", "content-length")
        for k, v in resp.getheaders():
            if k.lower() not in skip:
                self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward


@pytest.fixture(scope="module")
def logged_s3(s3):
    """``(port, requests)``: a proxy on 127.0.0.1 in front of the moto server
    that logs every request's method and raw path as the server receives it
    (S3 path-style ``/bucket/key`` and plain HTTP ``GET /bucket/key``)."""
    import http.server
    import threading

    _, target = s3
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    server.daemon_threads = True
    server.target = target
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.requests
    server.shutdown()
    server.server_close()


def reached(requests, outside) -> list[str]:
    """The logged request paths that reach ``outside`` (a path prefix such as
    ``/evil``), after decoding and collapsing dot segments as a server does."""
    import posixpath
    from urllib.parse import unquote

    hits = []
    for _, raw in requests:
        path = posixpath.normpath(unquote(unquote(raw.split("?", 1)[0])))
        if path == outside or path.startswith(outside.rstrip("/") + "/"):
            hits.append(raw)
    return hits
