"""``group-layers popcount --cache URL --paths FILE``: popularity data from a
Nix binary cache, reading nothing but ``.narinfo`` files (as Nixery's later
popcount did), so nothing is downloaded or built.

How it works:

1. the roots are the store paths in FILE, one a line (plain, ``.xz`` or
   ``.gz``, told apart by their first bytes; a channel's ``store-paths.xz``
   is such a file);
2. ``nix-cache-info`` must exist and its ``StoreDir`` must be the roots'
   store dir;
3. ``<hash>.narinfo`` is read for every root and, transitively, for every
   path its ``References:`` name, with at most ``--jobs`` requests in
   flight.  Over HTTP, aiohttp keeps that many keep-alive connections open;
   a 5xx answer, a timeout, a broken connection or a truncated body is
   retried ``ATTEMPTS`` times in all, with a backoff doubling from
   ``BACKOFF`` seconds;
4. the closures are counted by ``popcount.Tally``, the rule that
   ``popcount GRAPH...`` uses, so both write the same file for the same
   closures.

A root the cache does not have (404) is skipped, as Nixery skipped uncached
paths, and reported in the summary line on stderr.  A narinfo that is
malformed or names a reference the cache lacks, a wrong ``StoreDir``, or a
cache that cannot be reached is bad input: exit status 2 and one line naming
the URL.  With ``--state DIR`` the narinfos read are kept in an SQLite file
there, so that the next channel's run fetches only the paths that are new.

aiohttp is imported only for ``http://`` and ``https://`` caches: it is the
``cache`` extra (``pip install .[cache]``), not a dependency of the engine.
"""

import asyncio
import gzip
import lzma
import os
import re
import sqlite3
import sys
import time
import urllib.parse
from collections import deque

from .graph import package_name
from .popcount import Tally
from .validate import BadInput, read_bytes

#: Tries per request, the first included, and the first pause between them.
ATTEMPTS = 5
BACKOFF = 0.25
#: Seconds between progress lines, and before the first one.
PROGRESS_EVERY = 2.0

# A store path's base name: 32 characters of Nix's base32, a dash, a name.
_BASE_NAME = re.compile(r"[0-9abcdfghijklmnpqrsvwxyz]{32}-[A-Za-z0-9+\-._?=]+")


def popularity(args):
    """The :class:`Tally` for ``popcount --cache`` with parsed ``args``."""
    store_dir, roots = read_roots(args.paths)
    state = State(args.state) if args.state else None
    try:
        return asyncio.run(_Crawl(args.cache, store_dir, roots, args.jobs, args.timeout, state).run())
    finally:
        if state:
            state.close()


def read_roots(name):
    """``(store dir, sorted distinct root paths)`` from the file ``name``."""
    data = read_bytes(name)
    try:
        if data.startswith(b"\xfd7zXZ\x00"):
            data = lzma.decompress(data)
        elif data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (lzma.LZMAError, OSError, EOFError, UnicodeDecodeError) as e:  # gzip: OSError
        raise BadInput(name, "", f"not a list of store paths (plain, xz or gzip): {e}") from None
    roots, store_dirs = set(), set()
    for number, line in enumerate(text.splitlines(), 1):
        path = line.strip()
        if not path:
            continue
        store_dir, _, base = path.rpartition("/")
        if not store_dir.startswith("/") or not _BASE_NAME.fullmatch(base):
            raise BadInput(name, f"line {number}", f"{path!r} is not a store path")
        roots.add(path)
        store_dirs.add(store_dir)
    if not roots:
        raise BadInput(name, "", "no store paths in it")
    if len(store_dirs) > 1:
        raise BadInput(name, "", f"store paths from several store dirs: {', '.join(sorted(store_dirs))}")
    return store_dirs.pop(), sorted(roots)


def parse_narinfo(text, path, url):
    """The references (full paths) of ``path`` from its narinfo ``text``,
    checked as Nix checks it; malformed: :class:`BadInput` naming ``url``."""
    fields = _fields(text, url, "narinfo")
    missing = [k for k in ("StorePath", "URL", "NarHash", "NarSize") if not fields.get(k)]
    if missing:
        raise BadInput(url, "", f"malformed narinfo: no {', '.join(missing)}")
    if fields["StorePath"] != path:
        raise BadInput(url, "", f"malformed narinfo: it is for {fields['StorePath']}, not {path}")
    if not fields["NarSize"].isdigit():
        raise BadInput(url, "", f"malformed narinfo: NarSize {fields['NarSize']!r}")
    store_dir = path.rpartition("/")[0]
    references = fields.get("References", "").split()
    for base in references:
        if not _BASE_NAME.fullmatch(base):
            raise BadInput(url, "", f"malformed narinfo: reference {base!r} is not a store path")
    # Interned: a path is named by every narinfo that refers to it, kept once.
    return sorted(sys.intern(f"{store_dir}/{base}") for base in references if f"{store_dir}/{base}" != path)


def _fields(text, url, what):
    """The ``Key: value`` lines of a narinfo or nix-cache-info file."""
    fields = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon or not key or " " in key:
            if line.strip():
                raise BadInput(url, "", f"malformed {what}: line {line[:80]!r} is not 'Key: value'")
            continue
        fields[key] = value.strip()
    return fields


class State:
    """``--state DIR``: the narinfos already read, as ``path -> references``,
    in ``DIR/narinfos.sqlite``."""

    def __init__(self, directory):
        self.directory = directory
        try:
            os.makedirs(directory, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(directory, "narinfos.sqlite"))
            self.db.execute("CREATE TABLE IF NOT EXISTS narinfo (path TEXT PRIMARY KEY, refs TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as e:
            raise BadInput(directory, "", f"cannot keep state here: {e}") from None

    def get(self, path):
        row = self.db.execute("SELECT refs FROM narinfo WHERE path = ?", (path,)).fetchone()
        return None if row is None else row[0].split()

    def put(self, path, references):
        self.db.execute("INSERT OR REPLACE INTO narinfo VALUES (?, ?)", (path, " ".join(references)))

    def close(self):
        try:
            self.db.commit()
        except sqlite3.Error as e:
            raise BadInput(self.directory, "", f"cannot keep state here: {e}") from None
        finally:
            self.db.close()


class _Files:
    """A ``file://`` cache: the files of a folder."""

    def __init__(self, url):
        self.url, self.folder = url, urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        self.requests = 0

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        pass

    async def get(self, name):
        """The file's bytes, or None when there is no such file."""
        self.requests += 1
        try:
            with open(os.path.join(self.folder, name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise BadInput(self.where(name), "", e.strerror) from None

    def where(self, name):
        return f"{self.url.rstrip('/')}/{name}"


class _Http(_Files):
    """An ``http://`` or ``https://`` cache, read with aiohttp: at most
    ``jobs`` keep-alive connections, each request retried on 5xx, timeouts
    and broken or truncated answers."""

    def __init__(self, url, jobs, timeout):
        self.url, self.jobs, self.timeout = url, jobs, timeout
        self.requests = 0

    async def __aenter__(self):
        import aiohttp

        self.errors = (aiohttp.ClientError, asyncio.TimeoutError)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.jobs),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "group-layers-popcount"},
        )
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    async def get(self, name):
        url, problem = self.where(name), None
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
            self.requests += 1
            try:
                async with self.session.get(url) as response:
                    if response.status == 200:
                        return await response.read()
                    if response.status in (404, 410):
                        return None
                    problem = f"HTTP {response.status} {response.reason or ''}".strip()
                    if response.status < 500 and response.status != 429:
                        break
            except self.errors as e:
                problem = _describe(e)
        raise BadInput(url, "", f"cannot read it: {problem}"
                       + (f" (after {ATTEMPTS} tries)" if attempt == ATTEMPTS - 1 else ""))


def _describe(error):
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _source(url, jobs, timeout):
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file":
        return _Files(url)
    if scheme in ("http", "https"):
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise BadInput("--cache", "", "reading an http(s) cache needs aiohttp: "
                                          "pip install 'group-layers[cache]'") from None
        return _Http(url, jobs, timeout)
    raise BadInput("--cache", "", f"{url!r} is not an http://, https:// or file:// URL")


class _Crawl:
    """One run: reads the closures of the roots, then counts them."""

    def __init__(self, url, store_dir, roots, jobs, timeout, state):
        self.url, self.store_dir, self.roots = url, store_dir, roots
        self.jobs, self.timeout, self.state = jobs, timeout, state
        self.refs = {}  # path -> its references, or None if the cache lacks it
        self.from_state = 0

    async def run(self):
        start = time.monotonic()
        async with _source(self.url, self.jobs, self.timeout) as source:
            await self._check_cache_info(source)
            await self._read_closures(source, start)
        reading = time.monotonic() - start
        missing_roots = self._check_references()
        tally = self._count()
        counted = len(self.roots) - missing_roots
        print(f"group-layers popcount: {counted} of {len(self.roots)} roots counted"
              + (f", {missing_roots} skipped: not in the cache" if missing_roots else "")
              + f"; {len(self.refs)} narinfos ({len(self.refs) - self.from_state} read with "
              f"{source.requests} requests, {self.from_state} from --state) "
              f"in {reading:.2f} s", file=sys.stderr)
        return tally

    async def _check_cache_info(self, source):
        data = await source.get("nix-cache-info")
        where = source.where("nix-cache-info")
        if data is None:
            raise BadInput(where, "", "not found: this is not a Nix binary cache")
        info = _fields(data.decode("utf-8", "replace"), where, "nix-cache-info")
        store_dir = info.get("StoreDir", self.store_dir)
        if store_dir != self.store_dir:
            raise BadInput(where, "", f"the cache is for StoreDir {store_dir}, the paths are in {self.store_dir}")

    async def _read_closures(self, source, start):
        queue, queued = deque(self.roots), set(self.roots)
        in_flight, shown = {}, start
        while queue or in_flight:
            while queue and len(in_flight) < self.jobs:
                path = queue.popleft()
                known = self.state.get(path) if self.state else None
                if known is not None:
                    self.from_state += 1
                    self._found(path, known, queue, queued)
                    continue
                in_flight[asyncio.ensure_future(self._narinfo(source, path))] = path
            if not in_flight:
                continue
            try:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                for task in in_flight:
                    task.cancel()
                raise
            for task in done:
                path = in_flight.pop(task)
                try:
                    references = task.result()
                except BaseException:
                    for other in in_flight:
                        other.cancel()
                    raise
                if references is None:
                    self.refs[path] = None
                else:
                    if self.state:
                        self.state.put(path, references)
                    self._found(path, references, queue, queued)
            now = time.monotonic()
            if now - shown >= PROGRESS_EVERY:
                shown = now
                print(f"group-layers popcount: {len(self.refs)} narinfos read, {len(queue)} queued, "
                      f"{len(in_flight)} in flight, {len(self.refs) / (now - start):.0f}/s",
                      file=sys.stderr, flush=True)

    def _found(self, path, references, queue, queued):
        self.refs[path] = references
        for r in references:
            if r not in queued:
                queued.add(r)
                queue.append(r)

    async def _narinfo(self, source, path):
        name = path.rpartition("/")[2][:32] + ".narinfo"
        data = await source.get(name)
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(source.where(name), "", "malformed narinfo: not UTF-8") from None
        return parse_narinfo(text, path, source.where(name))

    def _check_references(self):
        """The number of roots the cache lacks; a lacking reference is an error."""
        for path, references in sorted(self.refs.items()):
            for r in references or ():
                if self.refs[r] is None:
                    raise BadInput(self.url, "", f"{path} is in the cache but its reference {r} is not")
        return sum(self.refs[root] is None for root in self.roots)

    def _count(self):
        paths = sorted(p for p, r in self.refs.items() if r is not None)
        index = {p: i for i, p in enumerate(paths)}
        names = [package_name(p) for p in paths]
        refs = [[index[r] for r in self.refs[p]] for p in paths]
        tally = Tally()
        for root in self.roots:
            if root in index:
                tally.add(root, names, refs, index[root])
        return tally
