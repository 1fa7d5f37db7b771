"""The dominator tree of an image's graph, for the ``nixery`` strategy and ``--format dot``.

An image root node (index ``len(graph)``) gets an edge to each requested
root, to each path no other path references (in a closure Nix exported those
are requested roots anyway; in a hand-written graph they keep every path
reachable) and to the extra ``tops`` a caller names.  A path's immediate
dominator is the nearest node that every route from the image root to it
passes through.

Only the image root's edge into a first path counts: its other incoming
edges are left out, which changes no dominator.  (A route that enters such a
path ``v`` from elsewhere, ``root ... u -> v ... w``, has the shortcut
``root -> v ... w`` whose nodes are a subset of its own; so a node on every
remaining route to ``w`` was on every route before.)

The algorithm
-------------
Cooper, Harvey and Kennedy's ("A Simple, Fast Dominance Algorithm", 2001):
a node's immediate dominator is the nearest common ancestor, in the
dominator tree built so far, of all its predecessors.  Store graphs have no
cycles, so visiting the nodes with every referrer before what it references
settles each node in one pass: its predecessors' places in the tree are final
when it is reached.  Their paper finds the common ancestor by walking up the
tree one step at a time, which takes as long as the tree is deep: a deep
chain whose every link also references one library costs quadratic time.
Here each tree node also keeps a *jump* pointer (Myers' skew-binary scheme:
the jump of a node depends only on its depth, and reaching any ancestor takes
O(log depth) jumps and steps), so each predecessor costs O(log n) and the
whole tree O(E log n), in plain Python (no networkx import for ~0.15 s).
"""


def dominator_children(graph, tops=()):
    """``children[d]``: the sorted paths whose immediate dominator is ``d``
    (``d == len(graph)``: the image root)."""
    n = len(graph)
    root = n
    unreferenced = [i for i, count in enumerate(graph.referrer_counts) if not count]
    firsts = set(graph.roots).union(tops, unreferenced)
    # parent[v]: v's immediate dominator once v is reached; before, the common
    # ancestor of the referrers seen so far (None: none yet).
    parent, jump, depth = [None] * n + [root], [root] * (n + 1), [0] * (n + 1)
    for i in firsts:
        parent[i] = root
    for v in graph.referrers_first:
        d = parent[v]
        depth[v] = depth[d] + 1
        j = jump[d]
        jump[v] = jump[j] if depth[d] - depth[j] == depth[j] - depth[jump[j]] else d
        for r in graph.refs[v]:
            seen = parent[r]
            if seen is None:
                parent[r] = v
            elif seen != root:
                parent[r] = _common_ancestor(seen, v, parent, jump, depth)

    children = [[] for _ in range(n + 1)]
    for v in range(n):
        children[parent[v]].append(v)
    return children


def _common_ancestor(a, b, parent, jump, depth):
    """The nearest common ancestor of ``a`` and ``b`` in the tree so far."""
    if depth[a] < depth[b]:
        a, b = b, a
    target = depth[b]
    while depth[a] > target:
        a = jump[a] if depth[jump[a]] >= target else parent[a]
    while a != b:
        # Same depth, hence jumps of the same length.
        if jump[a] != jump[b]:
            a, b = jump[a], jump[b]
        else:
            a, b = parent[a], parent[b]
    return a
