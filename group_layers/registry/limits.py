"""Bounds on the work clients can make the server do, so that a flood of
names costs little and cannot starve real pulls:

- ``NegativeCache``: the ``not_found`` (or refused: unfree, broken,
  insecure) answer for an image key (the same key as built images, so the
  same name, revision, layer budget and popularity), kept for ``ttl``
  seconds; a repeated unknown name costs no evaluation.
- ``RateLimiter``: a token bucket per client address for the builds it
  starts (evaluations that find unknown packages included): ``per_minute``
  tokens a minute, up to a minute's worth saved.  Cache hits, joined builds
  and negative-cache answers take no token.
- ``Busy``: the answer when a limit is reached (``429 TOOMANYREQUESTS`` with
  ``Retry-After``); the builds one client has in flight, and the queue of
  builds waiting for a slot, are bounded by the builder (``builds.Builder``)
  the same way.

Both tables are bounded (least recently used entries go first), so memory
stays bounded whatever the number of names or clients.
"""

import math
import time
from collections import OrderedDict

TABLE_SIZE = 10_000


class Busy(Exception):
    """A limit is reached: try again after ``retry_after`` seconds."""

    def __init__(self, reason, retry_after):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, math.ceil(retry_after))


class _Table(OrderedDict):
    """An OrderedDict that drops its least recently used entries beyond `size`."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class NegativeCache:
    def __init__(self, ttl, size=TABLE_SIZE, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self.entries = _Table(size)

    def put(self, key, answer):
        if self.ttl > 0:
            self.entries.put(key, (self.clock() + self.ttl, answer))

    def get(self, key):
        """The answer kept for `key`, or None."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if self.clock() >= expires:
            del self.entries[key]
            return None
        return answer


class RateLimiter:
    def __init__(self, per_minute, size=TABLE_SIZE, clock=time.monotonic):
        self.rate = per_minute / 60.0  # tokens a second
        self.capacity = float(per_minute)
        self.clock = clock
        self.buckets = _Table(size)  # client -> (tokens, when)

    def take(self, client):
        """Take a token for `client`, or raise Busy."""
        if self.rate <= 0:
            return
        now = self.clock()
        tokens, then = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.buckets.put(client, (tokens, now))
            raise Busy("build rate limit of this client", (1 - tokens) / self.rate)
        self.buckets.put(client, (tokens - 1, now))
