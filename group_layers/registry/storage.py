"""Where blobs (layers, configs) and manifests live: a content-addressed
store behind a small interface, so that an object-store backend can follow.

``Storage`` is that interface.  ``FilesystemStorage`` keeps everything in one
folder, the unit of sharing between replicas (any number of servers may use
one folder at once, on one machine or on a shared file system)::

    blobs/sha256/<hex>       layer tarballs and image configs
    manifests/sha256/<hex>   manifests, Docker and OCI
    images/<key>.json        a built image: {"docker": digest, "oci": digest}
    tmp/                     files being written

Every file is written to ``tmp/`` and renamed into place, so a reader never
sees half a file and a crash leaves only ``tmp/`` debris (swept when older
than a day).  A blob is hashed while it is copied in and renamed only if its
digest matches; each server hashes it once more before it serves it for the
first time, so a file damaged in the shared folder is never served.

Blobs are copied out of the Nix store rather than served from it: the storage
then stands alone (another replica, without this machine's Nix store, serves
it; the Nix store can be garbage-collected), at the price of a second copy on
disk and of the copy's time on a cold build (hashing, copying and syncing
took 15 ms per MB on the 2-core development machine: 2.9 s for 200 MB).
"""

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
STALE_TMP_SECONDS = 24 * 3600


class DigestMismatch(Exception):
    """A blob's content does not have the digest it is stored under."""


@dataclass(frozen=True)
class BlobLocation:
    """How to serve a blob: a local file (for sendfile, ranges) or a URL to
    redirect the client to (an object store's signed URL)."""

    size: int
    path: Path | None = None
    url: str | None = None


class Storage:
    """The storage interface. Digests are bare sha256 hex strings; every
    method is synchronous and may block (the server calls them in a thread).
    """

    def blob(self, digest):
        """The BlobLocation of a blob, verified, or None if it is absent."""
        raise NotImplementedError

    def put_blob(self, digest, source):
        """Copy the local file `source` in as blob `digest`, checking the
        digest; DigestMismatch if it differs. True if it was new."""
        raise NotImplementedError

    def manifest(self, digest):
        """The bytes of manifest `digest`, or None."""
        raise NotImplementedError

    def put_manifest(self, data):
        """Store manifest bytes; their digest (hex)."""
        raise NotImplementedError

    def image(self, key):
        """The image recorded under cache key `key` (a dict), or None."""
        raise NotImplementedError

    def put_image(self, key, record):
        raise NotImplementedError

    def put_file(self, name, data):
        """Store any other small file (popularity data); its local path."""
        raise NotImplementedError


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FilesystemStorage(Storage):
    """The storage in a local (or shared) folder; see the module docstring."""

    def __init__(self, root):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.blobs = self.root / "blobs" / "sha256"
        self.manifests = self.root / "manifests" / "sha256"
        self.images = self.root / "images"
        self.files = self.root / "files"
        for folder in (self.tmp, self.blobs, self.manifests, self.images, self.files):
            folder.mkdir(parents=True, exist_ok=True)
        self._verified = set()
        self._sweep_tmp()

    def _sweep_tmp(self):
        cutoff = time.time() - STALE_TMP_SECONDS
        for entry in self.tmp.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except FileNotFoundError:
                pass

    def _temp_name(self):
        return self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"

    def _write(self, target, data):
        temp = self._temp_name()
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    # Paths come from validated hex digests and keys only (never from a
    # request's text), so nothing outside the folder can be named.
    def _blob_path(self, digest):
        return self.blobs / _hex(digest)

    def blob(self, digest):
        path = self._blob_path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if digest not in self._verified:
            if sha256_file(path) != digest:
                # Damaged: move it aside so that the next build stores it again.
                path.replace(self._temp_name())
                return None
            self._verified.add(digest)
        return BlobLocation(size=size, path=path)

    def put_blob(self, digest, source):
        target = self._blob_path(digest)
        if target.is_file():
            return False
        temp = self._temp_name()
        hashed = hashlib.sha256()
        try:
            with open(source, "rb") as src, open(temp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    hashed.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            if hashed.hexdigest() != digest:
                raise DigestMismatch(f"{source} has digest sha256:{hashed.hexdigest()}, not sha256:{digest}")
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        self._verified.add(digest)
        return True

    def manifest(self, digest):
        try:
            return (self.manifests / _hex(digest)).read_bytes()
        except FileNotFoundError:
            return None

    def put_manifest(self, data):
        digest = hashlib.sha256(data).hexdigest()
        target = self.manifests / digest
        if not target.is_file():
            self._write(target, data)
        return digest

    def image(self, key):
        try:
            return json.loads((self.images / f"{_hex(key)}.json").read_text())
        except FileNotFoundError:
            return None

    def put_image(self, key, record):
        self._write(self.images / f"{_hex(key)}.json", json.dumps(record, sort_keys=True).encode())

    def put_file(self, name, data):
        target = self.files / hashlib.sha256(data).hexdigest() / Path(name).name
        if not target.is_file():
            target.parent.mkdir(exist_ok=True)
            self._write(target, data)
        return target


def _hex(text):
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a sha256 hex digest: {text!r}")
    return text
