"""Where blobs (layers, configs) and manifests live: a content-addressed
store behind a small interface, so that an object-store backend can follow.

``Storage`` is that interface.  ``FilesystemStorage`` keeps everything in one
folder, the unit of sharing between replicas (any number of servers may use
one folder at once, on one machine or on a shared file system)::

    blobs/sha256/<hex>       layer tarballs and image configs
    manifests/sha256/<hex>   manifests, Docker and OCI
    images/<key>.json        a built image: {"docker": digest, "oci": digest}
    referrers/<hex>.json     the artifacts (SBOMs) whose subject is manifest <hex>
    locks/<key>.lock         held while one replica builds that image
    tmp/<instance>/          files being written by one running server

Every file is written to its server's ``tmp/<instance>/`` and renamed into
place, so a reader never sees half a file.  Each server holds an exclusive
``flock`` on ``tmp/<instance>/.lock`` for its life; at start, a server
removes the folders whose lock nobody holds (their server was killed), so a
crash leaves nothing behind for long, while another replica's files in
progress are never touched.  (``flock`` reaches across machines on NFS,
where Linux maps it to a POSIX lock.)

A blob is hashed while it is copied in and renamed only if its digest
matches; each server hashes it once more before it uses it for the first
time (and again when its size or modification time changed), so a file
damaged in the shared folder is never served: it is moved aside, and the
image that needs it is built again, which stores it again (``intact``;
``builds.Builder``).  ``scrub`` hashes every blob and drops the records of
images whose blobs are gone; ``collect_garbage`` removes blobs and
manifests no record references, once they are older than a grace period
(a build stores its blobs before its record; storing a blob that is
already there touches it, so the grace period covers every build that
takes less).

Blobs are copied out of the Nix store rather than served from it: the storage
then stands alone (another replica, without this machine's Nix store, serves
it; the Nix store can be garbage-collected), at the price of a second copy on
disk and of the copy's time on a cold build (hashing, copying and syncing
took 15 ms per MB on the 2-core development machine: 2.9 s for 200 MB).
"""

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


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

    def referrers(self, subject):
        """The descriptors of the manifests (SBOM artifacts) whose subject is
        manifest `subject` (hex): a list, empty if none."""
        raise NotImplementedError

    def put_referrers(self, subject, descriptors):
        raise NotImplementedError

    def put_file(self, name, data):
        """Store any other small file (popularity data); its local path."""
        raise NotImplementedError

    def intact(self, record):
        """Whether an image record's manifests and blobs are all there and
        undamaged (a damaged blob is moved aside)."""
        raise NotImplementedError

    def build_lock(self, key):
        """The lock that this server builds image `key` (its ``close()``
        releases it), or None if another server holds it now."""
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
        self.blobs = self.root / "blobs" / "sha256"
        self.manifests = self.root / "manifests" / "sha256"
        self.images = self.root / "images"
        self.files = self.root / "files"
        self.locks = self.root / "locks"
        self.referrers_of = self.root / "referrers"
        for folder in (self.root / "tmp", self.blobs, self.manifests, self.images, self.files, self.locks,
                       self.referrers_of):
            folder.mkdir(parents=True, exist_ok=True)
        self._verified = {}  # digest -> the (size, mtime, inode) it was verified with
        self.swept = self._sweep_tmp()
        self.tmp = self.root / "tmp" / uuid.uuid4().hex
        self.tmp.mkdir()
        self._instance_lock = open(self.tmp / ".lock", "w")
        fcntl.flock(self._instance_lock, fcntl.LOCK_EX)

    def _sweep_tmp(self):
        """Remove what killed servers left in tmp/; the number of files."""
        removed = 0
        for entry in (self.root / "tmp").iterdir():
            if not entry.is_dir():  # from a version that wrote to tmp/ itself
                entry.unlink(missing_ok=True)
                removed += 1
                continue
            try:
                with open(entry / ".lock") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    removed += sum(1 for e in entry.iterdir() if e.name != ".lock")
                    shutil.rmtree(entry, ignore_errors=True)
            except BlockingIOError:
                pass  # a live server's
            except FileNotFoundError:
                # No lock file: a server that is just starting, or one that
                # died as it started (then the folder is old).
                try:
                    if entry.stat().st_mtime < time.time() - 60:
                        shutil.rmtree(entry, ignore_errors=True)
                except FileNotFoundError:
                    pass
        return removed

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._instance_lock.close()

    def _temp_name(self):
        return self.tmp / uuid.uuid4().hex

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
            stat = path.stat()
        except FileNotFoundError:
            return None
        seen = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if self._verified.get(digest) != seen:
            if sha256_file(path) != digest:
                # Damaged: move it aside so that the next build stores it again.
                self._verified.pop(digest, None)
                try:
                    path.replace(self._temp_name())
                except FileNotFoundError:
                    pass
                return None
            self._verified[digest] = seen
        return BlobLocation(size=stat.st_size, path=path)

    def put_blob(self, digest, source):
        target = self._blob_path(digest)
        if self.blob(digest) is not None:
            _touch(target)
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
        self.blob(digest)  # remembered as verified
        return True

    def manifest(self, digest):
        """The manifest's bytes if they have their digest (a damaged one is
        moved aside, as blobs are), else None."""
        path = self.manifests / _hex(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            try:
                path.replace(self._temp_name())
            except FileNotFoundError:
                pass
            return None
        return data

    def put_manifest(self, data):
        digest = hashlib.sha256(data).hexdigest()
        target = self.manifests / digest
        if self.manifest(digest) is not None:
            _touch(target)
        else:
            self._write(target, data)
        return digest

    def image(self, key):
        try:
            return json.loads((self.images / f"{_hex(key)}.json").read_text())
        except FileNotFoundError:
            return None

    def put_image(self, key, record):
        self._write(self.images / f"{_hex(key)}.json", json.dumps(record, sort_keys=True).encode())

    def drop_image(self, key):
        (self.images / f"{_hex(key)}.json").unlink(missing_ok=True)

    def referrers(self, subject):
        try:
            return json.loads((self.referrers_of / f"{_hex(subject)}.json").read_text())
        except (FileNotFoundError, ValueError):
            return []

    def put_referrers(self, subject, descriptors):
        self._write(self.referrers_of / f"{_hex(subject)}.json", json.dumps(descriptors, sort_keys=True).encode())

    def put_file(self, name, data):
        target = self.files / hashlib.sha256(data).hexdigest() / Path(name).name
        if not target.is_file():
            target.parent.mkdir(exist_ok=True)
            self._write(target, data)
        return target

    def record_blobs(self, record):
        """The digests of an image record's blobs (its config and layers), or
        None if one of its manifests is missing or unreadable."""
        blobs = set()
        for digest in record.values():
            of_manifest = self._manifest_blobs(digest)
            if of_manifest is None:
                return None
            blobs |= of_manifest
        return blobs

    def _manifest_blobs(self, digest):
        """The digests of manifest `digest`'s config and layers, or None if it
        is missing or unreadable."""
        data = self.manifest(digest)
        if data is None:
            return None
        try:
            manifest = json.loads(data)
            return {d["digest"].removeprefix("sha256:") for d in [manifest["config"], *manifest["layers"]]}
        except (ValueError, KeyError, TypeError):
            return None

    def intact(self, record):
        blobs = self.record_blobs(record)
        return blobs is not None and all(self.blob(d) is not None for d in sorted(blobs))

    def build_lock(self, key):
        f = open(self.locks / f"{_hex(key)}.lock", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None
        return f

    def records(self):
        """(key, record) of every image record."""
        for path in sorted(self.images.glob("*.json")):
            try:
                yield path.stem, json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                continue

    def scrub(self, progress=None):
        """Hash every blob (moving damaged ones aside), then drop the records
        of images whose manifests or blobs are gone. {"blobs", "damaged",
        "images", "dropped"}."""
        self._verified.clear()
        blobs = sorted(p.name for p in self.blobs.iterdir())
        damaged = 0
        for i, digest in enumerate(blobs):
            if self.blob(digest) is None:
                damaged += 1
            if progress:
                progress(i + 1, len(blobs))
        images = dropped = 0
        for key, record in list(self.records()):
            images += 1
            blobs_of = self.record_blobs(record)
            if blobs_of is None or not all(self._blob_path(d).is_file() for d in blobs_of):
                self.drop_image(key)
                dropped += 1
        return {"blobs": len(blobs), "damaged": damaged, "images": images, "dropped": dropped}

    def collect_garbage(self, grace_seconds):
        """Remove blobs and manifests that no image record references and
        that were not written or reused for `grace_seconds`.
        {"blobs_removed", "manifests_removed", "bytes_freed"}."""
        cutoff = time.time() - grace_seconds
        # Listed before the records are read: a file stored after this is
        # not a candidate, whatever the records say.
        candidates = [(folder, p) for folder in (self.blobs, self.manifests, self.referrers_of)
                      for p in folder.iterdir()]
        referenced_manifests, referenced_blobs = set(), set()
        for _, record in self.records():
            referenced_manifests.update(record.values())
            referenced_blobs.update(self.record_blobs(record) or ())
        # The artifacts (SBOMs) that refer to an image's manifests live as long as it.
        subjects = set(referenced_manifests)
        for subject in subjects:
            for artifact in (d["digest"].removeprefix("sha256:") for d in self.referrers(subject)):
                referenced_manifests.add(artifact)
                referenced_blobs.update(self._manifest_blobs(artifact) or ())
        removed = {"blobs_removed": 0, "manifests_removed": 0, "bytes_freed": 0}
        for folder, path in candidates:
            if folder == self.referrers_of:
                referenced, name = subjects, path.stem
            else:
                referenced, name = referenced_blobs if folder == self.blobs else referenced_manifests, path.name
            if name in referenced:
                continue
            try:
                stat = path.stat()
                if stat.st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            if folder != self.referrers_of:
                removed["blobs_removed" if folder == self.blobs else "manifests_removed"] += 1
            removed["bytes_freed"] += stat.st_size
        return removed


def _touch(path):
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def _hex(text):
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a sha256 hex digest: {text!r}")
    return text
