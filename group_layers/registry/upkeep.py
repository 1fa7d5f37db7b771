"""The commands beside the server: ``group-layers-registry scrub`` and
``group-layers-registry gc``, upkeep of a storage folder (safe to run while
servers use it), and ``group-layers-registry probe``, which waits for a
server to be ready.

- ``scrub`` hashes every blob, moves damaged ones aside and drops the
  records of images whose manifests or blobs are gone (the next pull of
  such an image builds it again and stores them again).
- ``gc`` removes blobs and manifests that no image record references and
  that nobody wrote or reused for ``--grace`` seconds (default 24 h: longer
  than any build, whose blobs are stored before its record).  Images built
  from an unpinned source have no record, so theirs go once the grace period
  is over; pulls by tag build them again.
- ``probe URL`` asks URL (a server's ``/readyz``) until it answers 200, for
  up to ``--timeout`` seconds (exit status 1 if it never does): the NixOS
  service's ``ExecStartPost``, so that the unit is started once it serves.

scrub and gc print a JSON summary on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

from .storage import FilesystemStorage

DEFAULT_GRACE_SECONDS = 24 * 3600
DESCRIPTIONS = {
    "scrub": "Hash every blob of a storage folder, move damaged ones aside, drop the records of "
             "images whose blobs are gone.",
    "gc": "Remove the blobs and manifests of a storage folder that no image record references.",
    "probe": "Wait until a URL (a server's /readyz) answers 200.",
}


class BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadArguments(message)


def _parser(command, env):
    p = _Parser(prog=f"group-layers-registry {command}", allow_abbrev=False, description=DESCRIPTIONS[command])
    if command == "probe":
        p.add_argument("url")
        p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                       help="how long to wait (default: 60)")
        return p
    p.add_argument("--storage", metavar="DIR", default=env.get("STORAGE_PATH"),
                   help="the storage folder (env STORAGE_PATH)")
    if command == "gc":
        p.add_argument("--grace", type=float, default=DEFAULT_GRACE_SECONDS, metavar="SECONDS",
                       help="keep unreferenced files younger than this (default: 86400)")
    return p


def _progress(done, total):
    if done == total or done % 100 == 0:
        print(f"scrub: {done}/{total} blobs hashed", file=sys.stderr, flush=True)


def probe(url, timeout):
    """0 once `url` answers 200, 1 (with one line on stderr) if it does not
    within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return 0
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            last = str(getattr(e, "reason", e))
        if time.monotonic() >= deadline:
            print(f"group-layers-registry probe: {url} not ready after {timeout:g} s: {last}", file=sys.stderr)
            return 1
        time.sleep(0.2)


def run(command, argv, env):
    """Exit status of `command` (scrub, gc or probe) with `argv`."""
    try:
        a = _parser(command, env).parse_args(argv)
        if command == "probe":
            if not a.url.startswith(("http://", "https://")):
                raise BadArguments(f"{a.url}: not an http(s) URL")
            return probe(a.url, a.timeout)
        if not a.storage:
            raise BadArguments("no storage folder: give --storage DIR or STORAGE_PATH")
        if not os.path.isdir(a.storage):
            raise BadArguments(f"storage folder {a.storage}: not a folder")
        if command == "gc" and a.grace < 0:
            raise BadArguments(f"--grace {a.grace:g}: must not be negative")
        storage = FilesystemStorage(a.storage)
    except (BadArguments, OSError) as e:
        print(f"group-layers-registry {command}: {e}", file=sys.stderr)
        return 2
    try:
        summary = storage.scrub(_progress) if command == "scrub" else storage.collect_garbage(a.grace)
    finally:
        storage.close()
    print(json.dumps(summary, sort_keys=True))
    return 0
