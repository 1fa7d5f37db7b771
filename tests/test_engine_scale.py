"""The engine's graph algorithms held to naive ones: exact closure sizes, the
dominator tree (networkx's as the reference), Kahn's order and the cycle
check, on random DAGs and on the shapes that used to be slow."""

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_support import attrs_document, dags, path_info_object, run, write_json
from group_layers import validate
from group_layers.dominators import dominator_children
from group_layers.graph import Graph, closure_sizes


@st.composite
def raw_dags(draw, max_paths=40):
    """``(nar sizes, refs)`` with indices in random order: ``refs[i]``
    sorted tuples, acyclic."""
    n = draw(st.integers(1, max_paths))
    rank = draw(st.permutations(range(n)))  # rank[i]: i's place, low first
    density = draw(st.floats(0, 0.6))
    refs = []
    for i in range(n):
        below = [j for j in range(n) if rank[j] > rank[i]]
        chosen = draw(st.lists(st.sampled_from(below), unique=True,
                               max_size=int(len(below) * density) + 1)) if below else []
        refs.append(tuple(sorted(chosen)))
    sizes = draw(st.lists(st.integers(0, 10**9), min_size=n, max_size=n))
    return sizes, refs


def naive_closure_sizes(nar, refs):
    result = []
    for start in range(len(refs)):
        seen, stack = {start}, [start]
        while stack:
            for r in refs[stack.pop()]:
                if r not in seen:
                    seen.add(r)
                    stack.append(r)
        result.append(sum(nar[i] for i in seen))
    return result


@settings(max_examples=150, deadline=None)
@given(raw_dags())
def test_closure_sizes_are_exact_on_random_dags(dag):
    nar, refs = dag
    assert closure_sizes(nar, refs) == naive_closure_sizes(nar, refs)


def test_closure_sizes_of_the_shapes_that_were_slow():
    n = 2000
    chain = [(i + 1,) for i in range(n - 1)] + [()]
    assert closure_sizes([1] * n, chain) == [n - i for i in range(n)]
    star = [tuple(range(1, n))] + [()] * (n - 1)
    assert closure_sizes(list(range(n)), star) == [n * (n - 1) // 2] + list(range(1, n))
    # a chain whose every link also references the bottom, and a diamond ladder
    with_lib = [(i + 1, n - 1) for i in range(n - 2)] + [(n - 1,), ()]
    assert closure_sizes([2] * n, with_lib) == naive_closure_sizes([2] * n, with_lib)
    ladder = [tuple(j for j in (i + 1, i + 2) if j < n) for i in range(n)]
    assert closure_sizes([3] * n, ladder) == [3 * (n - i) for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(dags())
def test_missing_closure_sizes_are_computed_as_nix_writes_them(dag):
    packages, roots, _ = dag
    given_doc = path_info_object(packages)
    missing = {path: {k: v for k, v in e.items() if k != "closureSize"} for path, e in given_doc.items()}
    with_sizes = validate.graph(given_doc, "with")
    without = validate.graph(missing, "without")
    assert without.given_closure_size is None or not packages
    assert without.closure_size == with_sizes.closure_size


def reference_dominators(graph, tops):
    """networkx's immediate dominators, on the graph dominators.py describes."""
    n = len(graph)
    referenced = {r for refs in graph.refs for r in refs}
    firsts = set(graph.roots) | set(tops) | (set(range(n)) - referenced)
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(n + 1))
    digraph.add_edges_from((i, r) for i in range(n) for r in graph.refs[i] if r not in firsts)
    digraph.add_edges_from((n, i) for i in sorted(firsts))
    children = [[] for _ in range(n + 1)]
    for node, dominator in sorted(nx.immediate_dominators(digraph, n).items()):
        if node != n:
            children[dominator].append(node)
    return children


@settings(max_examples=150, deadline=None)
@given(raw_dags(), st.data())
def test_dominator_tree_is_networkx_s(dag, data):
    nar, refs = dag
    n = len(refs)
    roots = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1)))))
    tops = data.draw(st.lists(st.integers(0, n - 1)))
    graph = Graph(tuple(map(str, range(n))), tuple(nar), tuple(refs), roots)
    assert dominator_children(graph, tops) == reference_dominators(graph, tops)


def test_dominator_tree_of_a_deep_chain_that_shares_a_library():
    # Each link's dominator is the one above; the library's is the top of the
    # chain.  A step-by-step walk up the tree is quadratic here.
    n = 5000
    refs = tuple((i + 1, n - 1) for i in range(n - 2)) + ((n - 1,), ())
    graph = Graph(tuple(map(str, range(n))), (1,) * n, refs, (0,))
    children = dominator_children(graph)
    assert children[n] == [0]
    assert children[0] == [1, n - 1]
    assert all(children[i] == [i + 1] for i in range(1, n - 2))
    assert children[n - 2] == children[n - 1] == []


def test_order_puts_referrers_first():
    graph = validate.graph(attrs_document({"a": (1, ["b", "c"]), "b": (1, ["c"]), "c": (1, [])}, ["a"]), "t")
    place = {graph.paths[i].rsplit("-", 1)[1]: k for k, i in enumerate(graph.referrers_first)}
    assert place["a"] < place["b"] < place["c"]
    assert graph.topological_order() == graph.referrers_first[::-1]


def test_a_long_chain_into_a_cycle_is_named_quickly(tmp_path):
    # 20,000 paths lead into a two-path cycle: finding it is linear.
    n = 20_000
    packages = {f"p{i}": (1, [f"p{i + 1}"]) for i in range(n)}
    packages[f"p{n}"] = (1, [f"p{n + 1}"])
    packages[f"p{n + 1}"] = (1, [f"p{n}"])
    result = run("--graph", write_json(tmp_path / "g.json", path_info_object_without_sizes(packages)),
                 "--out", tmp_path / "out.json")
    assert result.returncode == 2, result.stderr
    assert "reference cycle" in result.stderr and f"p{n}" in result.stderr
    assert not (tmp_path / "out.json").exists()


def path_info_object_without_sizes(packages):
    """``nix path-info --json --recursive`` (no -S) of ``packages``, which
    may have a cycle (engine_support's helpers compute closures, which a
    cycle has not)."""
    from engine_support import store_path

    return {
        store_path(name): {"narSize": size, "references": sorted({store_path(name), *map(store_path, deps)})}
        for name, (size, deps) in packages.items()
    }
