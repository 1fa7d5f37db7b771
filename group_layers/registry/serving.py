"""Running the registry's aiohttp application on a listening socket, with
what ``web.run_app`` lacks:

- requests that aiohttp's HTTP parser refuses (an oversized request line or
  header, TLS or other bytes that are not HTTP on the plain port) are
  answered in the registry's JSON error format, and logged as the one JSON
  line every request gets, not as aiohttp's plain text and a traceback; an
  unexpected exception in a handler is a JSON ``500 UNKNOWN`` and one JSON
  log line with its traceback;
- SIGTERM or SIGINT drain the server: ``draining`` is set (the readiness
  endpoint answers 503 from then on), the server goes on serving for
  ``drain_delay`` seconds (time for a load balancer's readiness check to
  take it out), then the listening socket is closed, requests in flight may
  finish for up to ``shutdown_timeout`` seconds, and the application's
  cleanup runs (it stops builds still running).
"""

import asyncio
import inspect
import signal
import traceback

from aiohttp import http_exceptions, web, web_protocol

from .errors import RegistryError, log


class _RequestHandler(web_protocol.RequestHandler):
    __slots__ = ()

    def handle_error(self, request, status=500, exc=None, message=None):
        if request.writer.output_size > 0:
            raise ConnectionError("the response was sent already: no error response can follow")
        if status >= 500:
            log({"event": "error", "path": request.path, "status": status,
                 "traceback": "".join(traceback.format_exception(exc)) if exc else None})
            error = RegistryError(status, "UNKNOWN", "internal server error")
        elif isinstance(exc, http_exceptions.LineTooLong):
            error = RegistryError(status, "UNSUPPORTED", "request line or header field too long")
        else:  # not HTTP/1.x: TLS on the plain port, a malformed header, ...
            error = RegistryError(status, "UNSUPPORTED", "malformed HTTP request",
                                  {"reason": type(exc).__name__ if exc else message})
        response = error.response()
        response.force_close()
        return response


class _Server(web.Server):
    __slots__ = ()

    def __call__(self):
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self):
        server = await super()._make_server()
        server.__class__ = _Server
        return server


def _accepts(callable_, name):
    return name in inspect.signature(callable_).parameters


async def serve(app, sock, shutdown_timeout, access_log_class, draining, drain_delay=0.0, started=None):
    """Serve `app` on `sock` until SIGTERM/SIGINT, then drain (see above);
    `draining` is an asyncio.Event set when draining starts; `started` is
    called once the server serves and the signals are handled."""
    # aiohttp >= 3.9 takes the shutdown timeout on the runner, 3.8 on the site.
    on_runner = _accepts(web.AppRunner.__init__, "shutdown_timeout")
    runner = _Runner(app, access_log_class=access_log_class,
                     **({"shutdown_timeout": shutdown_timeout} if on_runner else {}))
    await runner.setup()
    try:
        site = web.SockSite(runner, sock, **({} if on_runner else {"shutdown_timeout": shutdown_timeout}))
        await site.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, draining.set)
        if started is not None:
            started()
        await draining.wait()
        log({"event": "draining", "delay": drain_delay})
        await asyncio.sleep(drain_delay)
    finally:
        await runner.cleanup()
