"""The runtime graph of an image, as the strategies see it.

Nix exports the graph in two shapes, both read here (validation lives in
``validate.py``):

* the structured-attrs file of a derivation with ``__structuredAttrs = true``
  and ``exportReferencesGraph.graph = [ roots ]``: ``exportReferencesGraph.graph``
  names the roots, ``graph`` has one entry per store path;
* ``nix path-info --json --recursive`` (a list, or an object keyed by path in
  newer Nix); the roots are the paths that no other path references.

Whatever the shape or the order of its entries, the result is the same
:class:`Graph`: paths sorted, each known by its index, references as sorted
index tuples without the self-reference.  Strategies rely on that to be
deterministic.
"""

from collections import Counter, namedtuple
from functools import cached_property
from itertools import chain, repeat


def package_name(path):
    """The name popularity data uses for a store path: no store dir, no hash."""
    base = path.rsplit("/", 1)[-1]
    return base.split("-", 1)[1] if "-" in base else base


class Graph(namedtuple("Graph", "paths nar_size refs roots given_closure_size", defaults=(None,))):
    """A closed set of store paths and their references, immutable.

    ``paths`` is sorted; every other sequence is indexed like it.
    ``refs[i]`` are the indices path ``i`` references (itself excluded).
    ``roots`` are the requested paths, sorted.  ``given_closure_size`` is
    the document's ``closureSize`` of every path, or None when some are
    missing: then :attr:`closure_size` computes them all, when first asked.
    (A named tuple rather than a dataclass: importing ``dataclasses`` costs
    a tenth of a small image's run.)
    """

    def __len__(self):
        return len(self.paths)

    @property
    def names(self):
        return [package_name(p) for p in self.paths]

    @cached_property
    def closure_size(self):
        """Sum of narSize over each path's closure, as Nix's ``closureSize``."""
        if self.given_closure_size is not None:
            return self.given_closure_size
        return tuple(closure_sizes(self.nar_size, self.refs, self.referrers_first,
                                   self.referrer_counts))

    @cached_property
    def referrers_first(self):
        """Indices with every path before all the paths it references; shorter
        than the graph when references make a cycle (``validate`` rejects those)."""
        return _referrers_first(self.refs, self.referrer_counts)

    @cached_property
    def referrer_counts(self):
        """``referrer_counts[i]``: how many paths reference path ``i``."""
        return _referrer_counts(self.refs)

    @classmethod
    def build(cls, entries, roots=None):
        """Build from ``{path: entry}``, each entry an object of the document
        (``narSize``, optional ``closureSize`` and ``references``); ``roots``
        None: the paths no other path references.  A reference or root that
        is not a path of ``entries`` raises KeyError."""
        paths = sorted(entries)
        position = dict(zip(paths, range(len(paths)))).__getitem__
        values = list(map(entries.__getitem__, paths))
        refs = []
        for i, entry in enumerate(values):
            targets = set(map(position, entry.get("references", ())))
            targets.discard(i)
            refs.append(tuple(sorted(targets)))
        counts = _referrer_counts(refs)
        if roots is None:
            roots = [i for i, count in enumerate(counts) if not count]
        else:
            roots = sorted(set(map(position, roots)))
        nar = tuple([entry["narSize"] for entry in values])
        closure = tuple([entry.get("closureSize") for entry in values])
        if None in closure:
            closure = None
        graph = cls(tuple(paths), nar, tuple(refs), tuple(roots), closure)
        graph.__dict__["referrer_counts"] = counts  # counted already: fill the cache
        return graph


def _referrer_counts(refs):
    counts = [0] * len(refs)
    for i, count in Counter(chain.from_iterable(refs)).items():
        counts[i] = count
    return counts


def _referrers_first(refs, counts=None):
    """Kahn's algorithm: a path is ready once all its referrers are placed."""
    users = _referrer_counts(refs) if counts is None else counts[:]
    ready = [i for i, count in enumerate(users) if not count]
    for node in ready:
        for r in refs[node]:
            users[r] -= 1
            if not users[r]:
                ready.append(r)
    return ready


def closure_sizes(nar, refs, referrers_first=None, referrer_counts=None):
    """Each path's closure size (sum of narSize over its closure), exactly.

    Nix's definition needs the union of the closures below a path, not their
    sum: paths reached along two routes count once.  Sums suffice for the part
    of a closure that is a tree, so only the paths with several referrers,
    the *shared* ones, are ever kept in sets:

    * ``own[x]``: narSize of ``x`` and of everything below ``x`` that only
      ``x`` leads to (references with ``x`` as their one referrer, and theirs);
      a path ``z`` in the closure of ``x`` belongs to the ``own`` of the first
      path with other than one referrer met going up from ``z`` by the one
      referrer: that is ``x`` itself, or a shared path in the closure of ``x``;
    * ``shared[x]``: the shared paths of the closure of ``x`` (``x`` excluded),
      the union of its references' ``shared`` sets and those references that
      are shared themselves;
    * closure size of ``x`` = ``own[x]`` + the ``own`` of each path of
      ``shared[x]``.

    A set lives only while a referrer still needs it; a path starts from the
    largest of its references' sets (taken over, not copied, from the last
    referrer it has) and adds only what the others bring that is new.  A
    chain, a star or a tree therefore costs linear time and keeps no set; a
    real package graph costs what its shared paths' closures hold (about
    16 million set elements for the 200,000-path random graph of
    ``benchmarks/scale.py``, done by CPython's set operations).
    """
    n = len(nar)
    users = _referrer_counts(refs) if referrer_counts is None else referrer_counts
    order = _referrers_first(refs, users) if referrers_first is None else referrers_first
    own = list(nar)
    for x in order[::-1]:  # references first
        for r in refs[x]:
            if users[r] == 1:
                own[x] += own[r]
    # kept[x]: shared[x], plus x when x is shared itself (what referrers use);
    # kept_weight[x]: its summed own; alias[x]: kept[x] is also another's.
    size, kept, kept_weight = [0] * n, [None] * n, [0] * n
    alias, left = [False] * n, users[:]  # left: referrers still to come
    weight = own.__getitem__
    empty = frozenset()
    for x in order[::-1]:
        rs = refs[x]
        if not rs:
            base, base_weight, extra, big = empty, 0, empty, None
        elif len(rs) == 1:
            big = rs[0]
            base, base_weight, extra = kept[big], kept_weight[big], empty
        else:
            sets = [kept[r] for r in rs]
            lengths = list(map(len, sets))
            at = lengths.index(max(lengths))
            big, base = rs[at], sets[at]
            # A reference in base is shared and below big: all of its set is too.
            sets = [kept[r] for r in rs if r not in base and r != big]
            if not sets:
                extra = empty
            elif len(sets) == 1:
                extra = sets[0] - base
            else:
                extra = set().union(*sets)
                extra -= base
            base_weight = kept_weight[big] + sum(map(weight, extra))
        size[x] = own[x] + base_weight
        if users[x]:
            mine = users[x] > 1
            if not extra and not mine:
                kept[x] = base  # the very same set: never changed from now on
                if big is not None:
                    alias[x] = alias[big] = True
            else:
                if big is not None and left[big] == 1 and not alias[big] and type(base) is set:
                    kept[big] = None  # taken over
                else:
                    base = set(base)
                base |= extra
                if mine:
                    base.add(x)
                kept[x] = base
            kept_weight[x] = base_weight + (own[x] if mine else 0)
        for r in rs:
            left[r] -= 1
            if not left[r]:
                kept[r] = None
    return size


def shape(doc):
    """Which graph schema ``doc`` is meant for: a list is ``nix path-info``'s
    older form, an object keyed by store paths (or empty) its newer form,
    any other object the structured-attrs file."""
    if isinstance(doc, list):
        return "path-info-list"
    if isinstance(doc, dict) and all(map(str.startswith, doc, repeat("/"))):
        return "path-info-object"
    return "graph-attrs"


def from_document(doc, kind=None):
    """A :class:`Graph` from a parsed (and validated) JSON document of either
    shape (``kind``: its :func:`shape`, if known)."""
    kind = kind or shape(doc)
    if kind == "graph-attrs":
        entries = {e["path"]: e for e in doc["graph"]}
        return Graph.build(entries, doc["exportReferencesGraph"]["graph"])
    return Graph.build(doc if kind == "path-info-object" else {e["path"]: e for e in doc})
