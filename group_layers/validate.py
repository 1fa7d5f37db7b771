"""Check every input against the JSON Schema files shipped in ``schemas/``, then
against the rules a schema cannot express; build the :class:`Graph`.

A problem raises :class:`BadInput`, which names the file and the offending
element as a JSON pointer (``/graph/17/references/3``); the command prints it
as one line and exits with status 2.

Rules beyond the schemas: every reference and every root names a path of the
graph; two entries for the same path agree (size, hash and references);
sizes and popularity counts are integers, not floats like ``1.0`` (which
JSON Schema counts as integers); no path reaches itself through references
(Nix store paths cannot, and the strategies rely on it); the budget is at
least 1.

How schema validation stays fast
--------------------------------
jsonschema is the reference implementation, but it is slow on our inputs: on
the whole Debian archive as one image (63,436 entries, 44 MB) its
``Draft202012Validator(schema).is_valid``, the validator built once, takes
1.9 s (jsonschema 4.10) to 2.9 s (4.26), most of the 3 s the whole run may
take, and importing it costs 50 ms of the 0.3 s a typical image may take. So
a valid document is checked by ``fastschema``: it compiles the same schema
file into one plain Python predicate that visits every element, in 0.06 to
0.08 s here. It understands only the keywords our files use and refuses any
other, and the tests hold it to jsonschema's verdict on generated valid and
broken documents. Only when it rejects a document is jsonschema imported, to
say what is wrong and where (so explaining a bad archive-sized file takes
2.6 to 5 s); should jsonschema find nothing, that is a bug (exit status 1),
not a pass. Shortcuts that would check less, such as validating one entry of
each shape, were not taken: every element of every input is checked against
the schema file.
"""

import json
import os
import sys
from collections import namedtuple
from functools import lru_cache
from itertools import chain

from . import pathinfo
from .fastschema import compile_schema
from .graph import from_document, shape

SCHEMAS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "schemas")


class BadInput(Exception):
    """Bad input: ``file`` (or option) and ``pointer`` name where, ``message`` what."""

    def __init__(self, file, pointer, message):
        super().__init__(file, pointer, message)
        self.file, self.pointer, self.message = file, pointer, message

    def __str__(self):
        where = f"{self.file}: {self.pointer}" if self.pointer else self.file
        message = " ".join(str(self.message).split())
        if len(message) > 300:
            message = message[:150] + " ... " + message[-150:]
        return f"{where}: {message}"


#: Everything a run of ``group-layers`` reads, checked (``previous``: the old
#: plan's rows, or None; ``other_plans``: the lock's plans of other images,
#: carried into the new lock unchanged).
Inputs = namedtuple("Inputs", "graph popularity budget previous other_plans")


def inputs(graph_file, pop_file, budget_n, previous_file=None, image=None):
    """Read and check every input of a run in one step: the graph file, the
    popularity file (None: no data), the budget, and the lock or earlier
    output of ``--previous`` (None: none) with ``image``, the name of the
    lock's plan to use."""
    budget_n = budget(budget_n)
    graph_ = graph(read_json(graph_file), graph_file)
    popularity_ = popularity(read_json(pop_file), pop_file) if pop_file else {}
    previous_, others = previous(read_json(previous_file), previous_file, image) if previous_file else (None, {})
    return Inputs(graph_, popularity_, budget_n, previous_, others)


def read_bytes(name):
    """The bytes of file ``name`` (``-``: stdin); unreadable: :class:`BadInput`."""
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        raise BadInput(name, "", e.strerror) from None


def read_json(name):
    """The parsed JSON document in file ``name`` (``-``: stdin)."""
    data = read_bytes(name)
    try:
        return json.loads(data, parse_constant=_not_json)
    except ValueError as e:
        raise BadInput(name, "", f"not JSON: {e}") from None
    except RecursionError:
        raise BadInput(name, "", "not JSON we can read: nested too deeply") from None


def _not_json(constant):
    raise ValueError(f"{constant} is not a JSON value")


def pointer(*parts):
    """The JSON pointer (RFC 6901) of the element reached through ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@lru_cache(maxsize=None)
def schema(name):
    """The parsed schema file ``schemas/<name>.json``."""
    with open(os.path.join(SCHEMAS, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=None)
def _predicate(name):
    return compile_schema(schema(name))


def check_schema(name, doc, file):
    """Raise :class:`BadInput` unless ``doc`` is valid against ``schemas/<name>.json``."""
    if _predicate(name)(doc):
        return
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema(name)).iter_errors(doc))
    if error is None:
        raise RuntimeError(f"fastschema rejects {file} but jsonschema accepts it ({name})")
    message, instance = error.message, repr(error.instance)
    if message.startswith(instance):
        message = _show(error.instance) + message[len(instance):]
    raise BadInput(file, pointer(*error.absolute_path), message)


def _show(value):
    """``value`` as JSON, shortened to a glance."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:40] + " ... " + text[-15:]


def graph(doc, file):
    """The :class:`~group_layers.graph.Graph` of a parsed graph document, after every check.

    Each rule is checked over the whole document at once, and an offender is
    looked for only when one exists."""
    doc = pathinfo.normalise(doc, lambda parts, message: BadInput(file, pointer(*parts), message))
    kind = shape(doc)
    check_schema(kind, doc, file)
    roots = ()
    if kind == "graph-attrs":
        entries, roots = doc["graph"], doc["exportReferencesGraph"]["graph"]
        paths = [e["path"] for e in entries]
        keys = lambda i: ("graph", i)  # noqa: E731
    elif kind == "path-info-list":
        entries, paths = doc, [e["path"] for e in doc]
        keys = lambda i: (i,)  # noqa: E731
    else:
        entries, paths = list(doc.values()), list(doc)
        keys = lambda i: (paths[i],)  # noqa: E731

    for i, entry in enumerate(entries):
        if type(entry["narSize"]) is not int or type(entry.get("closureSize", 0)) is not int:
            field = "narSize" if type(entry["narSize"]) is not int else "closureSize"
            raise BadInput(file, pointer(*keys(i), field),
                           f"{_show(entry[field])} is not an integer")
    if kind != "path-info-object" and len(set(paths)) != len(paths):  # an object's keys differ
        first = {}
        for i, path in enumerate(paths):
            j = first.setdefault(path, i)
            if _facts(entries[i]) != _facts(entries[j]):
                raise BadInput(file, pointer(*keys(i)),
                               f"disagrees with {pointer(*keys(j))}, another entry for {path}")
    try:
        result = from_document(doc, kind)
    except KeyError:  # a reference or a root that is not in the graph: which?
        index = set(paths)
        for i, entry in enumerate(entries):
            for j, reference in enumerate(entry["references"]):
                if reference not in index:
                    raise BadInput(file, pointer(*keys(i), "references", j),
                                   f"{reference} is not in the graph") from None
        j = next(j for j, root in enumerate(roots) if root not in index)
        raise BadInput(file, pointer("exportReferencesGraph", "graph", j),
                       f"root {roots[j]} is not in the graph") from None
    _check_acyclic(result, lambda path: (keys(paths.index(path)), entries[paths.index(path)]), file)
    return result


def _facts(entry):
    return (entry["narSize"], entry.get("closureSize"), entry.get("narHash"),
            frozenset(entry["references"]))


def _check_acyclic(result, entry_of, file):
    """On a cycle (Kahn's order of :class:`Graph` is short), name a reference
    that closes it (``entry_of(path)``: the pointer parts and the entry of ``path``)."""
    if len(result.referrers_first) == len(result):
        return
    # Left: the cycles, what they reference, and what references them.  Drop
    # what leads to no cycle (Kahn's algorithm again, references first), then
    # walk references among the rest until a path comes back.
    stuck = set(range(len(result))).difference(result.referrers_first)
    referrers = {i: [] for i in stuck}
    pending = {}
    for i in stuck:
        targets = [r for r in result.refs[i] if r in stuck]
        pending[i] = len(targets)
        for r in targets:
            referrers[r].append(i)
    free = [i for i in stuck if not pending[i]]
    for node in free:
        stuck.discard(node)
        for i in referrers[node]:
            pending[i] -= 1
            if not pending[i]:
                free.append(i)
    node, seen = min(stuck), {}
    while node not in seen:
        seen[node] = len(seen)
        node = next(r for r in result.refs[node] if r in stuck)
    cycle = list(seen)[seen[node]:]
    where, entry = entry_of(result.paths[cycle[-1]])
    j = entry["references"].index(result.paths[node])
    names = " -> ".join(result.paths[i] for i in cycle + [node])
    raise BadInput(file, pointer(*where, "references", j), f"reference cycle: {names}")


def popularity(doc, file):
    """Popularity data, after every check."""
    check_schema("popularity", doc, file)
    if float in set(map(type, doc.values())):
        name = next(name for name, count in doc.items() if type(count) is float)
        raise BadInput(file, pointer(name), f"{_show(doc[name])} is not an integer")
    return doc


#: The lock format this version reads and writes.
LOCK_VERSION = 1


def previous(doc, file, image):
    """``(rows, other_plans)``: the old plan's rows from a lock
    (``schemas/lock.json``) or an earlier output (``schemas/layers.json``),
    after every check (no path in two of its layers), and the lock's plans of
    other images.  The plan is ``image``'s; where the lock has none of that
    name but holds a single plan, that one: a lock of one image follows the
    image when its name changes (the default name lists the packages, so
    adding one renames the image).  Without ``image``, the lock's only plan."""
    others = {}
    if isinstance(doc, list):
        check_schema("layers", doc, file)
        rows, where = doc, ()
    else:
        check_schema("lock", doc, file)
        if doc["version"] != LOCK_VERSION:
            raise BadInput(file, pointer("version"), f"lock version {doc['version']} is not supported "
                           f"(this group-layers reads version {LOCK_VERSION}: write the lock again)")
        plans = doc["images"]
        if image is None and len(plans) > 1:
            raise BadInput(file, pointer("images"), f"holds the plans of {len(plans)} images: "
                           "name one with --image")
        if image not in plans and len(plans) == 1:
            image = next(iter(plans))
        rows, where = plans.get(image, []), ("images", image)
        others = {name: plan for name, plan in plans.items() if name != image}
    paths = list(chain.from_iterable(row["contents"] for row in rows))
    if len(set(paths)) != len(paths):  # a path in two places: which?
        seen = {}
        for j, row in enumerate(rows):
            for k, path in enumerate(row["contents"]):
                first = seen.setdefault(path, (j, k))
                if first != (j, k):
                    raise BadInput(file, pointer(*where, j, "contents", k),
                                   f"{path} is also at {pointer(*where, first[0], 'contents', first[1])}: "
                                   "a path has one layer")
    return rows, others


def budget(n):
    """``n`` as a layer budget, after its check."""
    if n < 1:
        raise BadInput("--budget", "", f"must be at least 1, not {n}")
    return n


def output(graph, layers, budget, rows):
    """Raise RuntimeError, a bug in the strategy, unless its ``layers`` keep the
    contract: at most ``budget`` of them, each path in exactly one, members
    sorted, and their JSON ``rows`` valid against ``schemas/layers.json``."""
    if len(layers) > budget:
        raise RuntimeError(f"{len(layers)} layers for a budget of {budget}")
    for layer in layers:
        if list(layer.members) != sorted(set(layer.members)):
            raise RuntimeError(f"layer members not sorted and unique: {layer}")
    if sorted(chain.from_iterable(layer.members for layer in layers)) != list(range(len(graph))):
        raise RuntimeError("a path is in no layer or in several")
    if not _predicate("layers")(rows):
        raise RuntimeError("the layers are not valid against schemas/layers.json")
