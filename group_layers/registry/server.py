"""The HTTP side: the routes of a pull-only Docker Registry HTTP API v2 /
OCI Distribution server, on aiohttp.

    GET        /v2/                               200 {}
    GET, HEAD  /v2/<name>/manifests/<tag|digest>  the image's manifest (built if needed); with
                                                  --systems, an index of one image a system
                                                  to clients that accept one (platforms.py)
    GET, HEAD  /v2/<name>/blobs/<digest>          a layer or config (Range supported)
    GET        /v2/<name>/tags/list[?n=&last=]    ["latest"]: any tag names an image, built
                                                  on demand; this is the one always there
    GET        /v2/<name>/referrers/<digest>      the index of the artifacts (SBOMs) whose
                                                  subject is that manifest (referrers.py)
    GET        /metrics                           Prometheus text
    GET        /healthz                           200 while the process serves (liveness)
    GET        /readyz                            200 when it takes new work, 503 while it
                                                  drains at shutdown or its storage is not
                                                  writable (readiness)
    anything else under /v2/ (push, delete, ...)  405 UNSUPPORTED

Errors are the spec's JSON (``{"errors": [{"code", "message", "detail"}]}``).
Blobs are sent from the storage's files with sendfile, by the event loop: no
thread is held per download.  Each request is logged as one JSON line on
stderr when its response is complete.  SIGTERM/SIGINT drain the server
(``serving``): in-flight responses finish (up to ``--shutdown-timeout``),
then builds still running are killed; storage files are only ever renamed
into place, so none is left half-written.
"""

import asyncio
import json
import os
import socket
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .. import __version__
from . import config as configuration
from . import manifests, names, platforms, referrers, serving, upkeep
from .errors import API_HEADERS, RegistryError, log
from .plans import Plans
from .builds import Builder, BuildFailed, NotFound, ImageRequest, Unavailable
from .limits import Busy
from .metrics import Metrics
from .sources import UnknownRevision
from .storage import FilesystemStorage

# The tags listed: any tag names an image; this one always does.
TAGS = ["latest"]


class Registry:
    """The handlers, around one storage, builder and package source."""

    def __init__(self, cfg, storage, popularity=None):
        self.cfg = cfg
        self.storage = storage
        self.metrics = Metrics()
        self.popularity = popularity
        self.draining = asyncio.Event()
        self.builder = Builder(storage, self.metrics, log, cfg.build_command, cfg.max_builds,
                               cfg.timeout, cfg.nix_build_args, max_queue=cfg.max_queue,
                               client_builds_per_minute=cfg.client_builds_per_minute,
                               client_max_builds=cfg.client_max_builds, negative_ttl=cfg.negative_cache_seconds,
                               plans=Plans(storage) if cfg.layer_lock else None)

    def app(self):
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/v2/", self.base)
        app.router.add_get("/v2/{name:.+}/manifests/{reference}", self.manifest)
        app.router.add_get("/v2/{name:.+}/blobs/{digest}", self.blob)
        app.router.add_get("/v2/{name:.+}/tags/list", self.tags)
        app.router.add_get("/v2/{name:.+}/referrers/{digest}", self.referrers)
        app.router.add_get("/metrics", self.render_metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_route("*", "/v2/{rest:.*}", self.unsupported)
        app.on_cleanup.append(self._stop_builds)
        app.on_cleanup.append(lambda _app: asyncio.to_thread(self.storage.close))
        return app

    @web.middleware
    async def _errors(self, request, handler):
        try:
            return await handler(request)
        except RegistryError as e:
            return e.response()
        except web.HTTPMethodNotAllowed:
            return RegistryError(405, "UNSUPPORTED", "this registry is pull-only").response()
        except web.HTTPNotFound:
            return RegistryError(404, "UNSUPPORTED", "no such endpoint").response()

    async def _stop_builds(self, _app):
        await self.builder.stop()

    async def base(self, request):
        return web.json_response({}, headers=API_HEADERS)

    async def unsupported(self, request):
        if request.method in ("GET", "HEAD"):
            raise RegistryError(404, "UNSUPPORTED", "no such endpoint")
        raise RegistryError(405, "UNSUPPORTED", "this registry is pull-only")

    async def render_metrics(self, request):
        return web.Response(body=self.metrics.render().encode(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def healthz(self, request):
        return web.json_response({"status": "ok"})

    async def readyz(self, request):
        if self.draining.is_set():
            return web.json_response({"status": "draining"}, status=503)
        if not await asyncio.to_thread(os.access, self.storage.root, os.W_OK):
            return web.json_response({"status": "storage not writable"}, status=503)
        return web.json_response({"status": "ready"})

    async def manifest(self, request):
        name = _checked_name(request)
        reference = request.match_info["reference"]
        if names.is_digest_reference(reference):
            digest = _checked_digest(reference)
        elif self.cfg.systems and platforms.wants_index(request.headers.getall("Accept", [])):
            records = await asyncio.gather(*(self._image(name, reference, request.remote, system)
                                             for system in self.cfg.systems))
            digest = await asyncio.to_thread(platforms.index, self.storage, records)
        else:
            record = await self._image(name, reference, request.remote,
                                       self.cfg.systems[0] if self.cfg.systems else None)
            chosen = manifests.choose(request.headers.getall("Accept", []))
            digest = record["oci" if chosen == manifests.OCI_MANIFEST else "docker"]
        data = await asyncio.to_thread(self.storage.manifest, digest)
        if data is None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": f"sha256:{digest}"})
        return web.Response(body=data, headers={
            **API_HEADERS, "Content-Type": manifests.media_type(data),
            "Docker-Content-Digest": f"sha256:{digest}", "ETag": f'"sha256:{digest}"'})

    async def _image(self, name, tag, client, system=None):
        if names.TAG.fullmatch(tag) is None:
            raise RegistryError(400, "TAG_INVALID", "invalid tag", {"tag": tag[:200]})
        packages, optional = names.packages(name)
        if len(packages) - len(optional) > self.cfg.max_packages:
            raise RegistryError(400, "NAME_INVALID", f"more than {self.cfg.max_packages} packages in one name",
                                {"packages": len(packages) - len(optional)})
        try:
            resolved = await self.cfg.source.resolve(tag)
        except UnknownRevision as e:
            raise RegistryError(404, "MANIFEST_UNKNOWN", "unknown revision of the package source",
                                {"tag": tag, "reason": str(e)}) from None
        request = ImageRequest(packages, resolved.pkg_source, resolved.pinned, self.cfg.max_layers,
                               self.popularity, system, name)
        try:
            return await self.builder.image(request, optional, client)
        except Busy as e:
            raise RegistryError(429, "TOOMANYREQUESTS", f"too many requests: {e.reason}",
                                headers={"Retry-After": str(e.retry_after)}) from None
        except NotFound as e:
            raise RegistryError(404, "MANIFEST_UNKNOWN", "packages not found in the package set",
                                {"not_found": e.pkgs}) from None
        except Unavailable as e:
            raise RegistryError(403, "DENIED", f"packages the package set refuses: {e}",
                                {"unavailable": e.reasons}) from None
        except BuildFailed as e:
            raise RegistryError(500, "UNKNOWN", f"image build failed: {e}", {"packages": list(packages)}) from None

    async def tags(self, request):
        name = _checked_name(request)
        tags = [t for t in TAGS if t > request.query.get("last", "")]
        n = request.query.get("n")
        if n is not None:
            if not n.isdigit():
                raise RegistryError(400, "UNSUPPORTED", "n must be a non-negative integer", {"n": n[:50]})
            tags = tags[:int(n)]
        return web.json_response({"name": name, "tags": tags}, headers=API_HEADERS)

    async def referrers(self, request):
        _checked_name(request)
        digest = _checked_digest(request.match_info["digest"])
        data, filtered = await asyncio.to_thread(referrers.index, self.storage, digest,
                                                 request.query.get("artifactType"))
        headers = {**API_HEADERS, "Content-Type": manifests.OCI_INDEX}
        if filtered:
            headers["OCI-Filters-Applied"] = "artifactType"
        return web.Response(body=data, headers=headers)

    async def blob(self, request):
        _checked_name(request)
        digest = _checked_digest(request.match_info["digest"])
        location = await asyncio.to_thread(self.storage.blob, digest)
        if location is None:
            raise RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": f"sha256:{digest}"})
        headers = {**API_HEADERS, "Docker-Content-Digest": f"sha256:{digest}",
                   "Content-Type": "application/octet-stream"}
        if location.url is not None:
            raise web.HTTPTemporaryRedirect(location.url, headers=headers)
        return web.FileResponse(location.path, headers=headers)


def _checked_name(request):
    try:
        return names.check_name(request.match_info["name"])
    except names.InvalidName as e:
        raise RegistryError(400, "NAME_INVALID", str(e)) from None


def _checked_digest(text):
    try:
        return names.parse_digest(text)
    except names.InvalidName:
        raise RegistryError(400, "DIGEST_INVALID", "invalid digest", {"digest": text[:200]}) from None


def access_logger(metrics):
    """An aiohttp access logger that logs a JSON line and counts, per request."""

    class AccessLogger(AbstractAccessLogger):
        def log(self, request, response, duration):
            # The body's length (a range's for 206); nothing for HEAD.
            sent = (response.content_length or 0) if request.method != "HEAD" else 0
            metrics.count("registry_requests_total", method=request.method, code=str(response.status))
            metrics.count("registry_bytes_served_total", sent)
            log({"event": "request", "method": request.method, "path": request.path,
                 "status": response.status, "bytes": sent, "seconds": round(duration, 6),
                 "remote": request.remote})

    return AccessLogger


async def _download(url):
    from aiohttp import ClientSession, ClientTimeout

    async with ClientSession(timeout=ClientTimeout(total=120)) as session:
        async with session.get(url) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            return await response.read()


def _popularity(cfg, storage):
    """The popularity file to build with (a copy in the storage, named by its
    digest), or None."""
    if cfg.popularity_url:
        try:
            data = asyncio.run(_download(cfg.popularity_url))
        except Exception as e:  # any network failure is a bad setting here
            raise configuration.BadConfig(f"popularity URL {cfg.popularity_url}: {e}") from None
    elif cfg.popularity:
        with open(cfg.popularity, "rb") as f:
            data = f.read()
    else:
        return None
    try:
        json.loads(data)
    except ValueError:
        raise configuration.BadConfig("popularity data is not JSON") from None
    return str(storage.put_file("popularity.json", data))


def _listen(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in upkeep.DESCRIPTIONS:
        return upkeep.run(argv[0], argv[1:], os.environ)
    try:
        cfg = configuration.parse(argv)
        storage = FilesystemStorage(cfg.storage)
        popularity = _popularity(cfg, storage)
        sock = _listen(cfg.host, cfg.port)
    except configuration.BadConfig as e:
        print(f"group-layers-registry: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"group-layers-registry: {e}", file=sys.stderr)
        return 2
    registry = Registry(cfg, storage, popularity)
    host, port = sock.getsockname()[:2]

    def started():  # logged once it serves and handles SIGTERM
        log({"event": "start", "version": __version__, "host": host, "port": port, "storage": cfg.storage,
             "source": cfg.source.describe(), "popularity": popularity, "max_layers": cfg.max_layers,
             "max_builds": cfg.max_builds, "max_queue": cfg.max_queue, "max_packages": cfg.max_packages,
             "client_builds_per_minute": cfg.client_builds_per_minute, "client_max_builds": cfg.client_max_builds,
             "negative_cache_seconds": cfg.negative_cache_seconds, "timeout": cfg.timeout,
             "swept_temp_files": storage.swept})

    asyncio.run(serving.serve(registry.app(), sock, cfg.shutdown_timeout, access_logger(registry.metrics),
                              registry.draining, cfg.drain_delay, started))
    log({"event": "stop"})
    return 0
