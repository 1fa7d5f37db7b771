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
remaining route to ``w`` was on every route before.)  When every package is
a root, as in an image of a whole package set, that leaves networkx one edge
per path.

networkx is imported here only, so that the commands that
need no dominators start fast.
"""


def dominator_children(graph, tops=()):
    """``children[d]``: the sorted paths whose immediate dominator is ``d``."""
    import networkx as nx

    n = len(graph)
    referenced = {r for refs in graph.refs for r in refs}
    firsts = set(graph.roots) | set(tops) | (set(range(n)) - referenced)
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(n + 1))
    digraph.add_edges_from(
        (i, r) for i in range(n) for r in graph.refs[i] if r not in firsts
    )
    digraph.add_edges_from((n, i) for i in sorted(firsts))

    children = [[] for _ in range(n + 1)]
    for node, dominator in sorted(nx.immediate_dominators(digraph, n).items()):
        if node != n:
            children[dominator].append(node)
    return children
