"""``group-layers-registry scrub`` and ``group-layers-registry gc``: upkeep
of a storage folder, safe to run while servers use it.

- ``scrub`` hashes every blob, moves damaged ones aside and drops the
  records of images whose manifests or blobs are gone (the next pull of
  such an image builds it again and stores them again).
- ``gc`` removes blobs and manifests that no image record references and
  that nobody wrote or reused for ``--grace`` seconds (default 24 h: longer
  than any build, whose blobs are stored before its record).  Images built
  from an unpinned source have no record, so theirs go once the grace period
  is over; pulls by tag build them again.

Each prints a JSON summary on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import sys

from .storage import FilesystemStorage

DEFAULT_GRACE_SECONDS = 24 * 3600
DESCRIPTIONS = {
    "scrub": "Hash every blob of a storage folder, move damaged ones aside, drop the records of "
             "images whose blobs are gone.",
    "gc": "Remove the blobs and manifests of a storage folder that no image record references.",
}


class BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadArguments(message)


def _parser(command, env):
    p = _Parser(prog=f"group-layers-registry {command}", allow_abbrev=False, description=DESCRIPTIONS[command])
    p.add_argument("--storage", metavar="DIR", default=env.get("STORAGE_PATH"),
                   help="the storage folder (env STORAGE_PATH)")
    if command == "gc":
        p.add_argument("--grace", type=float, default=DEFAULT_GRACE_SECONDS, metavar="SECONDS",
                       help="keep unreferenced files younger than this (default: 86400)")
    return p


def _progress(done, total):
    if done == total or done % 100 == 0:
        print(f"scrub: {done}/{total} blobs hashed", file=sys.stderr, flush=True)


def run(command, argv, env):
    """Exit status of `command` (scrub or gc) with `argv`."""
    try:
        a = _parser(command, env).parse_args(argv)
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
