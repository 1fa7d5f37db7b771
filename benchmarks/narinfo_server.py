"""A binary cache folder served over HTTP on 127.0.0.1, for the popcount
benchmark and the ``popcount --cache`` tests.

``serve(folder)`` runs an aiohttp server in a thread of its own and yields a
:class:`Cache` with its ``url``.  It answers ``GET /<file>`` with the file
(404 when there is none) and records what the client did: ``requests`` (by
file name), the most requests it had in flight at once, and the connections
they came on.  For fault injection, ``faults[name]`` is a list of what the
next requests for that file get, one entry each, before normal answers
resume: ``404``, ``500``, ``"slow"`` (the answer after ``SLOW`` seconds),
``"truncated"`` (half the body, then the connection is closed) or
``"garbage"`` (a body that is no narinfo).
"""

import asyncio
import contextlib
import os
import socket
import threading
from collections import Counter

from aiohttp import web

SLOW = 2.0


class Cache:
    def __init__(self, folder, delay):
        self.folder, self.delay = folder, delay
        self.faults = {}
        self.requests = Counter()
        self.connections = set()
        self.in_flight = self.most_in_flight = 0
        self.url = None

    async def handle(self, request):
        name = request.match_info["name"]
        self.requests[name] += 1
        self.connections.add(request.transport.get_extra_info("peername"))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await self._answer(request, name)
        finally:
            self.in_flight -= 1

    async def _answer(self, request, name):
        fault = self.faults[name].pop(0) if self.faults.get(name) else None
        if fault in (404, 500):
            return web.Response(status=fault, text="injected\n")
        if fault == "garbage":
            return web.Response(body=b"this is not a narinfo\n")
        path = os.path.join(self.folder, name)
        if not os.path.isfile(path):
            return web.Response(status=404, text="not found\n")
        with open(path, "rb") as f:
            body = f.read()
        if fault == "slow":
            await asyncio.sleep(SLOW)
        if fault == "truncated":
            response = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            request.transport.close()
            return response
        return web.Response(body=body)


@contextlib.contextmanager
def serve(folder, delay=0.0):
    """Serve ``folder`` on a free port of 127.0.0.1 while in the block;
    every answer waits ``delay`` seconds first (a remote cache's latency)."""
    cache = Cache(folder, delay)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/{name}", cache.handle)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    loop.run_until_complete(web.SockSite(runner, sock).start())
    cache.url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield cache
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()
