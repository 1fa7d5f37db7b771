"""nixpkgs' ``auto-layer`` as a peer, written from its description
(``pkgs/build-support/docker/auto-layer.py``), needing no popularity data.

The largest paths of the image (by narSize) become *primary*, one at a time.
Every path is keyed by the primaries above it, keeping only the lowest: a
dependency ``d`` of a new primary ``P`` drops the primaries that depend on
``P`` (they reach ``d`` through ``P`` anyway) and takes ``P`` unless a primary
it already has lies below ``P``.  A primary is keyed by itself.  Paths with the
same key share a layer.  Primaries are added while the number of distinct keys
stays within the budget; the layers go out by growing closure size, so that a
layer comes after the layers it depends on.
"""

from group_layers.layer import Layer


def _reach(start, edges):
    """Indices reachable from ``start`` along ``edges``, ``start`` excluded."""
    seen, stack = set(), list(edges[start])
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(edges[i])
    return seen


def group(graph, popularity, budget):
    n = len(graph)
    users = [[] for _ in range(n)]
    for i, refs in enumerate(graph.refs):
        for r in refs:
            users[r].append(i)
    key = [frozenset()] * n
    for primary in sorted(range(n), key=lambda i: (graph.nar_size[i], graph.paths[i]), reverse=True):
        below, above = _reach(primary, graph.refs), _reach(primary, users)
        trial = {primary: frozenset((primary,))}
        for d in below:
            k = key[d] - above
            trial[d] = k if k & below else k | {primary}
        merged = key[:]
        for i, k in trial.items():
            merged[i] = k
        if len(set(merged)) > budget:
            break
        key = merged
    layers = {}
    for i in range(n):
        layers.setdefault(key[i], []).append(i)

    def closure_size(members):
        reach = set(members)
        for m in members:
            reach |= _reach(m, graph.refs)
        return sum(graph.nar_size[i] for i in reach)

    ordered = sorted(layers.values(), key=lambda m: (closure_size(m), graph.paths[m[0]]))
    return [Layer(tuple(m), "auto-layer") for m in ordered]
