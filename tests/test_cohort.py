"""The cohort strategy on hand-made graphs: its documented example, and the
property it exists for (the same cohort is cut the same way in every image)."""

from engine_support import attrs_document

from group_layers.graph import from_document
from group_layers.strategies import cohort

M = 10**6
# Nixery's A..G example with sizes and popularity, as in cohort.py's docstring.
EXAMPLE = {
    "A": (50 * M, ["C", "D"]), "B": (40 * M, ["D", "E"]), "C": (1 * M, []),
    "D": (30 * M, ["F"]), "E": (2 * M, ["G"]), "F": (80 * M, []), "G": (1 * M, []),
}
POP = {"A": 1, "B": 1, "C": 2, "D": 3, "E": 2, "F": 4, "G": 3}


def image(roots, packages=EXAMPLE):
    keep, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack.extend(packages[name][1])
    return from_document(attrs_document({n: packages[n] for n in sorted(keep)}, roots))


def layers(roots, budget=3, popularity=POP):
    graph = image(roots)
    return {frozenset(graph.names[i] for i in layer.members)
            for layer in cohort.group(graph, popularity, budget)}


def test_documented_example():
    assert layers("A") == {frozenset("AC"), frozenset("DF")}
    assert layers("B") == {frozenset("BEG"), frozenset("DF")}
    assert layers("AB") == {frozenset("AC"), frozenset("BEG"), frozenset("DF")}


def test_a_referrer_with_under_half_the_users_takes_nothing():
    # D has 2 users besides itself, A alone counts 1: D must not join A even in A's image,
    # or the layer {A, C, D, F} of A's image would differ from B's {D, F}.
    assert frozenset("ACDF") not in layers("A")


def test_tight_budget_merges_the_least_valuable_cohorts_last():
    assert layers("AB", budget=2) == {frozenset("DF"), frozenset("ABCEG")}
    assert layers("AB", budget=1) == {frozenset("ABCDEFG")}


def test_the_merge_bound_grows_as_the_budget_shrinks():
    # F costs 80 MB * 1/5 = 16 MB: over the bound at budget 96 (about 108 kB).
    graph = image("A")
    loose = {frozenset(graph.names[i] for i in l.members) for l in cohort.group(graph, POP, 96)}
    assert frozenset("F") in loose and frozenset("D") in loose


def test_without_popularity_the_image_stands_in():
    # A's image alone: every path has at most one user there, so everything
    # joins its referrer.
    assert layers("A", popularity={}) == {frozenset("ACDF")}
    assert layers("AB", popularity={}) == {frozenset("AC"), frozenset("BEG"), frozenset("DF")}
