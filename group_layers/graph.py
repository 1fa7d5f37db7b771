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

from dataclasses import dataclass


def package_name(path):
    """The name popularity data uses for a store path: no store dir, no hash."""
    base = path.rsplit("/", 1)[-1]
    return base.split("-", 1)[1] if "-" in base else base


@dataclass(frozen=True)
class Graph:
    """A closed set of store paths and their references.

    ``paths`` is sorted; every other sequence is indexed like it.
    ``refs[i]`` are the indices path ``i`` references (itself excluded).
    ``roots`` are the requested paths, sorted.
    """

    paths: tuple
    nar_size: tuple
    closure_size: tuple
    refs: tuple
    roots: tuple

    def __len__(self):
        return len(self.paths)

    @property
    def names(self):
        return [package_name(p) for p in self.paths]

    @classmethod
    def build(cls, entries, roots):
        """Build from ``{path: (narSize, closureSize or None, [references])}``.

        A missing closure size is computed from the graph.
        """
        paths = tuple(sorted(entries))
        index = {p: i for i, p in enumerate(paths)}
        refs = tuple(
            tuple(sorted({index[r] for r in entries[p][2] if r != p})) for p in paths
        )
        nar = tuple(entries[p][0] for p in paths)
        closure = tuple(entries[p][1] for p in paths)
        if any(c is None for c in closure):
            closure = tuple(_closure_sizes(nar, refs))
        return cls(paths, nar, closure, refs, tuple(sorted(index[r] for r in set(roots))))

    def topological_order(self):
        """Indices with every path after all the paths it references."""
        order, state = [], [0] * len(self.paths)
        for start in range(len(self.paths)):
            if state[start]:
                continue
            stack = [(start, iter(self.refs[start]))]
            state[start] = 1
            while stack:
                node, children = stack[-1]
                for child in children:
                    if not state[child]:
                        state[child] = 1
                        stack.append((child, iter(self.refs[child])))
                        break
                else:
                    stack.pop()
                    order.append(node)
        return order

    def user_counts(self):
        """For each path, how many other paths of the graph have it in their
        closure: the popularity it would have if the graph were the package set."""
        users = [0] * len(self.paths)
        for i in reversed(self.topological_order()):  # referrers first
            for r in self.refs[i]:
                users[r] |= users[i] | (1 << i)
        return [u.bit_count() for u in users]


def _closure_sizes(nar, refs):
    """Sum of narSize over each path's closure (bitsets as Python ints)."""
    n = len(nar)
    graph = Graph(tuple(range(n)), nar, nar, refs, ())
    closure = [0] * n
    for i in graph.topological_order():
        bits = 1 << i
        for r in refs[i]:
            bits |= closure[r]
        closure[i] = bits
    return [sum(nar[j] for j in _bits(c)) for c in closure]


def _bits(mask):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def shape(doc):
    """Which graph schema ``doc`` is meant for: a list is ``nix path-info``'s
    older form, an object keyed by store paths (or empty) its newer form,
    any other object the structured-attrs file."""
    if isinstance(doc, list):
        return "path-info-list"
    if isinstance(doc, dict) and all(k.startswith("/") for k in doc):
        return "path-info-object"
    return "graph-attrs"


def from_document(doc):
    """A :class:`Graph` from a parsed (and validated) JSON document of either shape."""
    if shape(doc) == "graph-attrs":
        entries = {
            e["path"]: (e["narSize"], e.get("closureSize"), e["references"])
            for e in doc["graph"]
        }
        return Graph.build(entries, doc["exportReferencesGraph"]["graph"])
    items = doc.items() if isinstance(doc, dict) else ((e["path"], e) for e in doc)
    entries = {
        path: (e["narSize"], e.get("closureSize"), e.get("references", []))
        for path, e in items
    }
    referenced = {r for p, (_, _, refs) in entries.items() for r in refs if r != p}
    return Graph.build(entries, [p for p in entries if p not in referenced])
