"""Building images with the toolkit's wrapper, once per image.

``Builder.image(request)`` returns the image record ``{"docker": <hex>,
"oci": <hex>}`` (the digests of its two manifests in the storage):

1. from the storage, if the source is pinned and the image was built before
   (by this server or another one on the same storage) and its manifests and
   blobs are all there, undamaged (else it is built again, which stores
   them again: the storage heals);
2. else from the build already running for the same image in this server
   (concurrent requests share one build: they await the same task);
3. else, for a pinned source, from another replica's build: the storage's
   build lock for the image is taken first (waiting while another server
   holds it), and the storage looked at again once it is held;
4. else from a new build, once one of ``max_builds`` slots is free.

Before a new build is started, the bounds of ``limits`` apply: an image
found unknown or refused before (within the negative cache's time) is
answered ``NotFound`` or ``Unavailable`` at once; a client over its build rate, or with
``client_max_builds`` builds of its own in flight already, or a queue
already ``max_queue`` builds long behind the busy slots, gets
``limits.Busy``.  (The per-client bound keeps one client from filling the
queue, so others' pulls still get in.)

A build is ``nixery-build-image --argstr packages '[...]' --argstr maxLayers
N [--argstr pkgSource S] [--argstr popularity FILE] [extra flags]`` in a
process group of its own under ``guard`` (which kills the group when the
server dies, even by SIGKILL), stopped at the timeout.  It prints the path of
manifest-output.json: an error object for unknown packages (``NotFound``) or
for packages the package set refuses, unfree, broken or insecure ones
(``Unavailable``), or the manifest and where its blobs are (``layerLocations``), which are
copied into the storage (blobs already there are not copied again).  A
failed build raises ``BuildFailed`` with its last error line and leaves
nothing cached.  Packages that only the ``shell`` meta-package asked for are
left out when the package set does not have them (one more evaluation).
"""

import asyncio
import hashlib
import json
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from . import guard, manifests, referrers
from .limits import Busy, NegativeCache, RateLimiter
from .storage import DigestMismatch

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BUILDING = re.compile(r"^building '(/nix/store/[^']+\.drv)'")
STOP_GRACE_SECONDS = 10
LOCK_POLL_SECONDS = 0.25


class BuildFailed(Exception):
    """The build failed or timed out; the message is its last error line."""


class NotFound(Exception):
    """Packages the package set does not have (the `pkgs` attribute)."""

    def __init__(self, pkgs):
        super().__init__(", ".join(pkgs))
        self.pkgs = list(pkgs)


class Unavailable(Exception):
    """Packages the package set has but refuses (the `reasons` attribute:
    name -> why, e.g. "it has an unfree license (...)")."""

    def __init__(self, reasons):
        super().__init__("; ".join(f"{name}: {why}" for name, why in sorted(reasons.items())))
        self.reasons = dict(reasons)


@dataclass(frozen=True)
class ImageRequest:
    """What identifies a built image: its cache key is made of all of it."""

    packages: tuple
    pkg_source: str | None
    pinned: bool
    max_layers: int
    popularity: str | None  # the file's path (named by its content's digest)
    system: str | None = None  # a Nix system, when the server builds for several
    name: str | None = field(default=None, compare=False)  # whose last plan it keeps; not in the key

    def plan_name(self):
        """Whose last plan the build starts from: the image name, per system."""
        return self.name if self.system is None else f"{self.name} {self.system}"

    def key(self):
        fields = [list(self.packages), self.pkg_source, self.max_layers, self.popularity]
        text = json.dumps(fields + ([self.system] if self.system else []))
        return hashlib.sha256(text.encode()).hexdigest()


class Builder:
    def __init__(self, storage, metrics, log, build_command, max_builds=2, timeout=600.0, extra_args=(),
                 max_queue=16, client_builds_per_minute=0, client_max_builds=4, negative_ttl=0, plans=None):
        self.storage = storage
        self.plans = plans  # plans.Plans, or None: no layer lock
        self.metrics = metrics
        self.log = log
        self.build_command = build_command
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.max_builds = max_builds
        self.max_queue = max_queue
        self.slots = asyncio.Semaphore(max_builds)
        self.refused = NegativeCache(negative_ttl)  # key -> NotFound or Unavailable
        self.rates = RateLimiter(client_builds_per_minute)
        self.client_max_builds = client_max_builds
        self.client_builds = Counter()  # client -> builds it started, in flight
        self.running = {}  # key -> asyncio.Task
        self.processes = set()
        # Per package source: the `shell` packages it does not have.
        self.missing_optional = {}

    async def image(self, request, optional=frozenset(), client=None):
        key = request.key()
        refused = self.refused.get(key)
        if refused is not None:
            self.metrics.count("registry_negative_cache_hits_total")
            raise refused.with_traceback(None)  # the kept answer, without the last raise's traceback
        if request.pinned:
            record = await asyncio.to_thread(self._stored, key)
            if record is not None:
                self.metrics.count("registry_cache_hits_total")
                return record
        self.metrics.count("registry_cache_misses_total")
        task = self.running.get(key)
        if task is None:
            self._admit(client)
            task = asyncio.ensure_future(self._build(request, optional))
            self.running[key] = task
            self.client_builds[client] += 1
            task.add_done_callback(lambda _: self._done(key, client))
        else:
            self.metrics.count("registry_builds_joined_total")
        # shield: a client that goes away does not cancel the others' build.
        return await asyncio.shield(task)

    def _admit(self, client):
        """Raise Busy if a new build may not start now."""
        seconds = self.metrics.get("registry_build_seconds_sum")
        count = self.metrics.get("registry_build_seconds_count")
        wait = (seconds / count if count else 10) * len(self.running) / self.max_builds
        try:
            if len(self.running) >= self.max_builds + self.max_queue:
                raise Busy("build queue full", wait)
            if self.client_builds[client] >= self.client_max_builds:
                raise Busy("builds of this client in flight", wait)
            self.rates.take(client)
        except Busy as e:
            self.metrics.count("registry_requests_refused_total", reason=e.reason)
            raise

    def _done(self, key, client):
        self.running.pop(key, None)
        self.client_builds[client] -= 1
        if not self.client_builds[client]:
            del self.client_builds[client]

    def _stored(self, key, report=True):
        """The stored record of image `key` if it is intact, else None (a
        damaged one is logged and counted, then built again)."""
        record = self.storage.image(key)
        if record is None:
            return None
        if not self.storage.intact(record):
            if not report:
                return None
            self.metrics.count("registry_images_repaired_total")
            self.log({"event": "repair", "key": key, "record": record})
            return None
        return record

    async def _lock(self, key):
        """The storage's build lock of image `key`, waited for while another
        replica holds it (at most as long as its build may take; then None:
        the build goes ahead without it)."""
        deadline = time.monotonic() + self.timeout + STOP_GRACE_SECONDS
        waited = False
        while (held := await asyncio.to_thread(self.storage.build_lock, key)) is None:
            if not waited:
                self.metrics.count("registry_builds_waited_total")
                waited = True
            if time.monotonic() > deadline:
                self.log({"event": "lock_timeout", "key": key})
                return None
            await asyncio.sleep(LOCK_POLL_SECONDS)
        return held

    async def _build(self, request, optional):
        held = await self._lock(request.key()) if request.pinned else None
        try:
            if held is not None:
                record = await asyncio.to_thread(self._stored, request.key(), False)
                if record is not None:  # another replica built it meanwhile
                    self.metrics.count("registry_cache_hits_total")
                    return record
            record = await self._build_once(request, optional)
        except NotFound as e:
            self.metrics.count("registry_builds_total", result="not_found")
            self.refused.put(request.key(), e)
            raise
        except Unavailable as e:
            self.metrics.count("registry_builds_total", result="unavailable")
            self.refused.put(request.key(), e)
            raise
        except BuildFailed:
            self.metrics.count("registry_builds_total", result="failed")
            raise
        finally:
            if held is not None:
                held.close()
        self.metrics.count("registry_builds_total", result="ok")
        return record

    async def _build_once(self, request, optional):
        async with self.slots:
            known = self.missing_optional.get(request.pkg_source, frozenset())
            packages = [p for p in request.packages if p not in known & optional]
            output = await self._run(request, packages)
            if output.get("error") == "not_found":
                unknown = set(output.get("pkgs", []))
                if unknown and unknown <= optional:
                    self.missing_optional[request.pkg_source] = known | unknown
                    packages = [p for p in packages if p not in unknown]
                    output = await self._run(request, packages)
            if output.get("error") == "not_found":
                raise NotFound(sorted(set(output.get("pkgs", [])) - optional))
            if output.get("error") == "unavailable":
                raise Unavailable(output.get("reasons", {}))
            try:
                record = await asyncio.to_thread(self._store, output)
            except (OSError, KeyError, DigestMismatch) as e:
                raise BuildFailed(f"the build's blobs could not be stored: {e!r}") from None
            if request.pinned:
                await asyncio.to_thread(self.storage.put_image, request.key(), record)
            return record

    def command(self, request, packages):
        cmd = [*self.build_command,
               "--argstr", "packages", json.dumps(list(packages)),
               "--argstr", "maxLayers", str(request.max_layers)]
        if request.pkg_source is not None:
            cmd += ["--argstr", "pkgSource", request.pkg_source]
        if request.popularity is not None:
            cmd += ["--argstr", "popularity", request.popularity]
        if request.system is not None:
            cmd += ["--argstr", "system", request.system]
        if self.plans is not None and request.name is not None:
            cmd += self.plans.build_args(request.plan_name())
        return cmd + self.extra_args

    async def _run(self, request, packages):
        """Run the wrapper; the parsed manifest-output.json."""
        cmd = guard.command(STOP_GRACE_SECONDS, self.command(request, packages))
        started = time.monotonic()
        self.metrics.gauge_add("registry_builds_running", 1)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self.processes.add(proc)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except asyncio.TimeoutError:
            await self._stop(proc)
            self._finished(request, packages, started, "timeout", [], cmd)
            raise BuildFailed(f"build timed out after {self.timeout:g} s") from None
        except asyncio.CancelledError:
            self._signal(proc, signal.SIGKILL)
            raise
        finally:
            self.processes.discard(proc)
            self.metrics.gauge_add("registry_builds_running", -1)
        stderr = ANSI.sub("", err.decode(errors="replace")).splitlines()
        built = [m.group(1) for m in map(BUILDING.match, stderr) if m]
        if proc.returncode != 0:
            self._finished(request, packages, started, "failed", built, cmd)
            raise BuildFailed(last_error_line(stderr) or f"build exited with status {proc.returncode}")
        lines = out.decode().split()
        try:
            with open(lines[-1], "rb") as f:
                output = json.load(f)
        except (IndexError, OSError, ValueError) as e:
            self._finished(request, packages, started, "failed", built, cmd)
            raise BuildFailed(f"the build printed no readable manifest-output.json: {e}") from None
        if self.plans is not None and request.name is not None and "error" not in output and len(lines) > 1:
            await asyncio.to_thread(self.plans.keep, request.plan_name(), lines[-2])
        self._finished(request, packages, started, "ok", built, cmd)
        return output

    def _finished(self, request, packages, started, result, built, cmd):
        seconds = time.monotonic() - started
        self.metrics.observe("registry_build_seconds", seconds)
        self.log({"event": "build", "packages": list(packages), "source": request.pkg_source,
                  "result": result, "seconds": round(seconds, 3), "derivations_built": built,
                  "layer_lock": "layerLock" in cmd})

    def _store(self, output):
        """Copy the blobs in, store both manifests; the image record."""
        manifest = output["manifest"]
        locations = output["layerLocations"]
        for descriptor in [manifest["config"], *manifest["layers"]]:
            digest = descriptor["digest"].removeprefix("sha256:")
            new = self.storage.put_blob(digest, locations[digest]["path"])
            self.metrics.count("registry_blobs_stored_total" if new else "registry_blobs_reused_total")
        record = {
            "docker": self.storage.put_manifest(manifests.encode(manifest)),
            "oci": self.storage.put_manifest(manifests.encode(manifests.to_oci(manifest))),
        }
        referrers.store(self.storage, output, record.values())
        return record

    def _signal(self, proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    async def _stop(self, proc):
        """Stop a build: SIGTERM to its group first, for Nix stops the
        builders it started (they run in sessions of their own, which killing
        nix-build would leave running), then SIGKILL after a grace period
        (the guard does the same; this is in case it cannot)."""
        self._signal(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_SECONDS)
        except asyncio.TimeoutError:
            self._signal(proc, signal.SIGKILL)
            await proc.wait()

    async def stop(self):
        """Stop the running builds (at shutdown)."""
        await asyncio.gather(*(self._stop(proc) for proc in list(self.processes)))


def last_error_line(lines):
    """What went wrong, in one line. When a builder failed: Nix's ``error:
    builder for ... failed`` line and the last line that builder logged
    (Nix 2.8 prints the log as it comes, just before; newer Nix quotes its
    tail after, as ``> ...``). Otherwise Nix's last ``error:`` line, or the
    last line of output."""
    lines = [l.strip() for l in lines if l.strip()]
    failed = [i for i, l in enumerate(lines) if l.startswith("error: builder for")]
    if failed:
        i = failed[-1]
        quoted = [l[1:].strip() for l in lines[i + 1:] if l.startswith(">")]
        if quoted:
            return f"{lines[i]}: {quoted[-1]}"
        if i > 0 and not lines[i - 1].startswith(("building '", "error:")):
            return f"{lines[i]}: {lines[i - 1]}"
        return lines[i]
    errors = [l for l in lines if l.startswith("error:")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else None
