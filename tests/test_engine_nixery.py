"""The ``nixery`` strategy on hand-made graphs, Nixery's documented example first."""

import pytest
from hypothesis import given, settings

from engine_support import attrs_document, dags, store_path
from group_layers import validate
from group_layers.graph import package_name
from group_layers.strategies import nixery

# Nixery's example (build-image/group-layers.go), with the sizes and
# popularity of nixery.py's docstring: E is popular, G big.
EXAMPLE = {
    "A": (1, ["E"]),
    "B": (1, ["E"]),
    "C": (1, ["E", "D"]),
    "D": (1, ["F", "G"]),
    "E": (500_000, []),
    "F": (1_000_000, []),
    "G": (150_000_000, []),
}
POPULARITY = {"E": 1000, "G": 4}


def layers(packages, roots, popularity, budget):
    graph = validate.graph(attrs_document(packages, roots), "test")
    return [
        ("".join(sorted(package_name(graph.paths[i]) for i in layer.members)), layer.why)
        for layer in nixery.group(graph, popularity, budget)
    ]


@pytest.mark.parametrize("budget, expected", [
    (10, ["A", "B", "C", "DF", "E", "G"]),
    (6, ["A", "B", "C", "DF", "E", "G"]),
    (5, ["AB", "C", "DF", "E", "G"]),
    # Nixery's documented layers for budgets 4 to 1.  At 4, {A, B, C} (rating
    # 152,500,004) stays before {D, F} (152,000,001): no re-sort after merging.
    (4, ["ABC", "DF", "E", "G"]),
    (3, ["ABCDF", "E", "G"]),
    (2, ["ABCDEF", "G"]),
    (1, ["ABCDEFG"]),
])
def test_nixery_documented_example(budget, expected):
    assert [members for members, _ in layers(EXAMPLE, "ABCD", POPULARITY, budget)] == expected


def test_nixery_says_why_each_layer_stands_alone():
    assert layers(EXAMPLE, "ABCD", POPULARITY, 10) == [
        ("A", "root"), ("B", "root"), ("C", "root"), ("DF", "root"),
        ("E", "popular"), ("G", "big"),
    ]
    assert layers(EXAMPLE, "ABCD", POPULARITY, 4)[0] == ("ABC", "merged")


def test_nixery_without_popularity_cuts_the_dominator_tree():
    # E is shared by A, B and C, so only the image root dominates it; G is
    # below 100 MB now and stays in D's subtree.  Ratings: E 500,000,
    # A and B 500,001, C 1,500,007, {D, F, G} 2,000,011.
    small = dict(EXAMPLE, G=(5, []))
    assert layers(small, "ABCD", {}, 10) == [
        ("E", "shared"), ("A", "root"), ("B", "root"), ("C", "root"), ("DFG", "root"),
    ]


def test_nixery_popularity_counts_by_package_name_not_path():
    # Two builds of the same name: both are popular.
    packages = {"app": (10, ["lib#1", "lib#2"]), "lib#1": (10, []), "lib#2": (10, [])}
    assert layers(packages, ["app"], {"lib": 1000}, 10) == [
        ("app", "root"), ("lib", "popular"), ("lib", "popular"),
    ]


def test_nixery_breaks_equal_ratings_by_store_path():
    packages = {name: (7, []) for name in "PQRS"}
    result = layers(packages, "PQRS", {}, 10)
    order = sorted("PQRS", key=store_path)
    assert [m for m, _ in result] == order


def test_nixery_keeps_paths_the_roots_do_not_reach():
    # A hand-written graph with an entry outside the roots' closure.
    packages = {"app": (1, []), "stray": (2, ["dep"]), "dep": (3, [])}
    assert sorted(m for m, _ in layers(packages, ["app"], {}, 10)) == ["app", "depstray"]


@settings(max_examples=60, deadline=None)
@given(dags())
def test_nixery_merging_is_the_original_loop(dag):
    """Merging the first layer into the second until the budget is met, as
    group-layers.go does, gives what ``group`` returns for every budget."""
    packages, roots, popularity = dag
    graph = validate.graph(attrs_document(packages, roots), "test")
    ideal = [list(layer.members) for layer in nixery.group(graph, popularity, len(graph) + 1)]
    for budget in range(1, len(ideal) + 1):
        loop = [list(members) for members in ideal]
        while len(loop) > budget:
            loop[1] = loop[0] + loop[1]
            del loop[0]
        got = [list(layer.members) for layer in nixery.group(graph, popularity, budget)]
        assert got == [sorted(members) for members in loop]
