"""What the registry's tests and its load benchmark share: a package set of
their own, the toolkit's wrapper, and servers started on 127.0.0.1.

``package_set(folder, nonce)`` is the offline fixture with an overlay: its
``libgreeting`` (so ``hello``) carries the nonce, so that a new nonce gives
derivations Nix has never built (a cold build, even in a shared store), and
it has packages that fail (``broken``), take 4 s (``slowa``, ``slowb``) or
hang (``hang``: ``sleep`` for a time unique to the set, to find it in the
process list).  It is put in the Nix store, so that the server sees a pinned
source.  ``Server`` runs ``python -m group_layers.registry`` with port 0 and
reads the port it got from its first log line; its log is a file, read back
as JSON events.
"""

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from nix_support import FIXTURE_PKGS, NIX_OPTIONS, REPO, nix_environment

OVERLAY = """
args:
import {fixture} (args // {{
  overlays = (args.overlays or [ ]) ++ [
    (final: prev: {{
      libgreeting = prev.libgreeting.overrideAttrs (old: {{ NONCE = "{nonce}"; }});
      broken = final.runCommand "broken-1.0" {{ }} ''
        echo "compiling broken {nonce}" >&2
        echo "broken.c:1: this package never builds" >&2
        exit 1
      '';
      slowa = final.runCommand "slowa-1.0" {{ }} ''
        sleep 4  # {nonce}
        mkdir -p $out/bin
        echo a > $out/bin/slowa
      '';
      slowb = final.runCommand "slowb-1.0" {{ }} ''
        sleep 4  # {nonce}
        mkdir -p $out/bin
        echo b > $out/bin/slowb
      '';
      hang = final.runCommand "hang-1.0" {{ }} ''
        exec sleep {hang_seconds}
      '';
    }})
  ];
}})
"""


def run(cmd, env, cwd=REPO):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout.strip()


def fixture_in_store():
    """The offline package set, copied into the Nix store."""
    return run(["nix-store", *NIX_OPTIONS, "--add", str(FIXTURE_PKGS)], nix_environment())


def hang_seconds(nonce):
    return f"600.{int(nonce[:6], 16):08d}"


def write_package_set(folder, nonce, fixture):
    """A folder with the fixture and the overlay above (default.nix)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "default.nix").write_text(
        OVERLAY.format(fixture=fixture, nonce=nonce, hang_seconds=hang_seconds(nonce)))
    return folder


def package_set(folder, nonce, fixture):
    """That folder's copy in the Nix store (a pinned source)."""
    folder = write_package_set(folder, nonce, fixture)
    return run(["nix-store", *NIX_OPTIONS, "--add", str(folder)], nix_environment())


def wrapper():
    """The toolkit's nixery-build-image command (built from this checkout)."""
    out = run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "nixery-build-image"], nix_environment())
    return f"{out}/bin/nixery-build-image"


def server_environment(fixture):
    """The server's environment: Nix with no binary cache, and the wrapper's
    tools from the fixture (<nixpkgs>)."""
    return nix_environment(nix_path=f"nixpkgs={fixture}")


class Server:
    """A registry server process on 127.0.0.1 (port 0: a free one)."""

    def __init__(self, storage, log, env, *args, command=None):
        self.log_path = Path(log)
        self.log_file = open(self.log_path, "w")
        command = command or [sys.executable, "-m", "group_layers.registry"]
        self.proc = subprocess.Popen(
            # Last, so that they win over any in `args` (argparse: the last one counts).
            [*command, *args, "--host", "127.0.0.1", "--port", "0", "--storage", str(storage)],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file, env=env, cwd=REPO)
        self.port = self._wait_for_start()
        self.host = f"127.0.0.1:{self.port}"

    def _wait_for_start(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events("start"):
                return event["port"]
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.log_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start: {self.log_path.read_text()}")

    def events(self, kind=None):
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if kind is None or event.get("event") == kind:
                found.append(event)
        return found

    def request(self, method, path, headers=None, timeout=600, source="127.0.0.1"):
        """(status, headers, body) of one request, the path sent as given;
        `headers` a dict or (name, value) pairs (a name may repeat);
        `source` the client's address (any of 127.0.0.0/8)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(source, 0))
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers.items() if isinstance(headers, dict) else headers or ()):
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def metrics(self):
        """{"name{labels}": value} from /metrics."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        values = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode


def temp_files(storage):
    """Files being written in a storage folder (each server's lock file aside)."""
    return [p for p in (Path(storage) / "tmp").rglob("*") if p.is_file() and p.name != ".lock"]


def no_temp_files(storage):
    return not temp_files(storage)

