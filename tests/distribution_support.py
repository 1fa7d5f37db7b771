"""Debian's docker-registry (distribution 2.8), a real registry for push
tests, on 127.0.0.1 at a free port, its storage in a folder of the test's."""

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest


@contextlib.contextmanager
def distribution(folder):
    """The registry's host:port, while it runs."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (distribution) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(folder / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "docker-registry did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
