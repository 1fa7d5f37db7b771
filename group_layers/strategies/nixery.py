"""Nixery's layering, as ``build-image/group-layers.go`` did it in August 2019.

Kept so that users can switch from Nixery without surprises; the default
strategy is better at sharing layers between images.

The algorithm
-------------
1. Add an image root node with an edge to every requested root path.
2. A path is *big* when its ``closureSize`` exceeds 100,000,000 bytes and
   *popular* when its popularity (missing = 1) is at least 1000; every big
   or popular path also gets an edge from the image root.
3. Take the immediate-dominator tree of that graph from the image root.  Each
   subtree under the image root becomes a layer: a path that only one top
   path pulls in goes into that path's layer; a path that two of them share
   is dominated by the image root alone and starts a layer of its own.
4. A layer's merge rating is the popularity of its top path times the summed
   ``closureSize`` of its paths.  Sort the layers by ascending rating (ties:
   by top store path, where Go's unstable sort left them to chance).
5. While there are more layers than the budget, merge the first layer into
   the second (ratings add up) and drop the first.  Like the original, the
   list is not sorted again after a merge.

Beyond the original: a path that no other path references also gets an edge
from the image root.  In a closure exported by Nix these are the requested
roots anyway; in a hand-written graph they keep every path in some layer.

Worked example
--------------
Nixery's own example, with sizes that make its documented layers come out::

    img -> A, B, C, D          A -> E    B -> E    C -> E, D    D -> F, G

    path  narSize      closureSize   popularity
    A     1            500,001       1
    B     1            500,001       1
    C     1            151,500,002   1
    D     1            151,000,001   1
    E     500,000      500,000       1000  (popular)
    F     1,000,000    1,000,000     1
    G     150,000,000  150,000,000   4     (big; so are C and D)

E and G get edges from the image root.  E is reached through A, B and C, G
through D and the root, so both are dominated by the root alone; F only
through D.  The layers and their ratings, ascending:

    {A} 500,001   {B} 500,001   {C} 151,500,002
    {D, F} 152,000,001   {E} 500,000,000   {G} 600,000,000

Budget 6 or more keeps all six.  Budget 4 merges {A} into {B}, then {A, B}
into {C}, leaving {A, B, C} (rating 152,500,004, still first although it now
outranks {D, F}), {D, F}, {E}, {G}.  Budget 3 gives {A, B, C, D, F}, {E},
{G}; budget 2 {A, B, C, D, E, F}, {G}; budget 1 everything in one layer.
(Nixery's comment lists the same layers for budgets 1 to 4.)
"""

import heapq
from operator import itemgetter

from ..dominators import dominator_children
from ..graph import package_name
from ..layer import Layer

BIG = 100 * 1000 * 1000
POPULAR = 1000


def group(graph, popularity, budget):
    """Nixery's layers for ``graph`` (see the module docstring)."""
    pop = [popularity.get(name, 1) for name in map(package_name, graph.paths)]
    big = [size > BIG for size in graph.closure_size]
    popular = [p >= POPULAR for p in pop]
    requested = set(graph.roots)
    children = dominator_children(
        graph, [i for i in range(len(graph)) if big[i] or popular[i]]
    )
    root = len(graph)

    closure = graph.closure_size.__getitem__
    layers = []
    for top in children[root]:
        members, stack = [], [top]
        while stack:
            node = stack.pop()
            members.append(node)
            stack.extend(children[node])
        rating = pop[top] * sum(map(closure, members))
        layers.append((rating, top, members, _why(top, requested, big, popular)))

    if len(layers) > budget:
        # Merging the first layer into the second until the budget is met
        # merges the first len - budget + 1 layers into one, in first place:
        # only the budget - 1 last ones need sorting.
        last = heapq.nlargest(budget - 1, layers, key=itemgetter(0, 1))[::-1]
        kept = {layer[1] for layer in last}
        merged = [i for layer in layers if layer[1] not in kept for i in layer[2]]
        layers = [(None, None, merged, "merged"), *last]
    else:
        layers.sort(key=itemgetter(0, 1))
    return [Layer(tuple(sorted(members)), why) for _, _, members, why in layers]


def _why(top, requested, big, popular):
    """Why the subtree under ``top`` stands alone."""
    if top in requested:
        return "root"
    if popular[top]:
        return "popular"
    if big[top]:
        return "big"
    return "shared"
