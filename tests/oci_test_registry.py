"""A real registry for the tests: Debian's ``docker-registry`` (the CNCF
distribution registry, 2.8), started on 127.0.0.1 with a configuration and
a storage folder of its own, stopped on exit.

    with Registry() as registry:
        skopeo copy ... docker://{registry.host}/hello:1 --dest-tls-verify=false
        registry.uploads   # Counter: finished blob uploads, by digest

``uploads`` is read from the registry's access log: a blob upload ends with
a ``PUT`` (or a monolithic ``POST``) carrying ``?digest=`` answered 201; a
blob a client finds with ``HEAD``, or mounts from another repository, is
not an upload. ``storage`` is its storage folder (``docker/registry/v2/``),
removed on exit (the log is kept in memory, so ``uploads`` still answers).
"""

import http.client
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CONFIG = """version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
# An access log line (Apache combined format): the request line and status.
ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


def available():
    return shutil.which("docker-registry") is not None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="docker-registry-"))
        self.storage = self.folder / "storage"
        self.log_path = self.folder / "registry.log"
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        (self.folder / "config.yml").write_text(CONFIG.format(storage=self.storage, port=self.port))
        self.proc = None
        self.final_log = None

    def __enter__(self):
        if not available():
            import pytest  # a test's helper: without the registry, the test skips

            pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.folder / "config.yml")],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/v2/")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"docker-registry did not start: {self.log()[-2000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.final_log = self.log_path.read_text(errors="replace")
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self):
        return self.final_log if self.final_log is not None else self.log_path.read_text(errors="replace")

    def requests(self):
        """(method, path, query, status) of each request logged so far."""
        found = []
        for match in ACCESS.finditer(self.log()):
            url = urlsplit(match["target"])
            found.append((match["method"], url.path, parse_qs(url.query), int(match["status"])))
        return found

    @property
    def uploads(self):
        counts = Counter()
        for method, path, query, status in self.requests():
            if method in ("PUT", "POST") and status == 201 and "/blobs/uploads/" in path and "digest" in query:
                counts[unquote(query["digest"][0])] += 1
        return counts
