"""What every part of the server answers and logs with: the distribution
spec's JSON errors (``{"errors": [{"code", "message", "detail"}]}``) and the
log, one JSON object per line on stderr."""

import json
import sys
import time

from aiohttp import web

API_HEADERS = {"Docker-Distribution-API-Version": "registry/2.0"}


def log(record):
    """One JSON line on stderr."""
    print(json.dumps({"time": round(time.time(), 3), **record}, sort_keys=True), file=sys.stderr, flush=True)


class RegistryError(Exception):
    def __init__(self, status, code, message, detail=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers or {}

    def response(self):
        error = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return web.json_response({"errors": [error]}, status=self.status, headers={**API_HEADERS, **self.headers})
