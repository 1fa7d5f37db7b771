"""Building images with the toolkit's wrapper, once per image.

``Builder.image(request)`` returns the image record ``{"docker": <hex>,
"oci": <hex>}`` (the digests of its two manifests in the storage):

1. from the storage, if the source is pinned and the image was built before
   (by this server or another one on the same storage);
2. else from the build already running for the same image (concurrent
   requests share one build: they await the same task);
3. else from a new build, once one of ``max_builds`` slots is free.

A build is ``nixery-build-image --argstr packages '[...]' --argstr maxLayers
N [--argstr pkgSource S] [--argstr popularity FILE] [extra flags]`` in its
own process group, killed at the timeout.  It prints the path of
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
from dataclasses import dataclass, field

from . import manifests, referrers
from .storage import DigestMismatch

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BUILDING = re.compile(r"^building '(/nix/store/[^']+\.drv)'")
STOP_GRACE_SECONDS = 10


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
                 plans=None):
        self.storage = storage
        self.plans = plans  # plans.Plans, or None: no layer lock
        self.metrics = metrics
        self.log = log
        self.build_command = build_command
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.slots = asyncio.Semaphore(max_builds)
        self.running = {}  # key -> asyncio.Task
        self.processes = set()
        # Per package source: the `shell` packages it does not have.
        self.missing_optional = {}

    async def image(self, request, optional=frozenset()):
        key = request.key()
        if request.pinned:
            record = await asyncio.to_thread(self.storage.image, key)
            if record is not None:
                self.metrics.count("registry_cache_hits_total")
                return record
        self.metrics.count("registry_cache_misses_total")
        task = self.running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._build(request, optional))
            self.running[key] = task
            task.add_done_callback(lambda _: self.running.pop(key, None))
        else:
            self.metrics.count("registry_builds_joined_total")
        # shield: a client that goes away does not cancel the others' build.
        return await asyncio.shield(task)

    async def _build(self, request, optional):
        try:
            record = await self._build_once(request, optional)
        except NotFound:
            self.metrics.count("registry_builds_total", result="not_found")
            raise
        except Unavailable:
            self.metrics.count("registry_builds_total", result="unavailable")
            raise
        except BuildFailed:
            self.metrics.count("registry_builds_total", result="failed")
            raise
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
        cmd = self.command(request, packages)
        started = time.monotonic()
        self.metrics.gauge_add("registry_builds_running", 1)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
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
        """Stop a build: SIGTERM first, for Nix stops the builders it started
        (they run in sessions of their own, which killing nix-build would
        leave running), then SIGKILL after a grace period."""
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
