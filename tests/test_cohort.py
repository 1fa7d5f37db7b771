"""The cohort strategy on hand-made graphs: its documented example, and the
property it exists for (the same cohort is cut the same way in every image)."""

from engine_support import attrs_document, closure
from hypothesis import given, settings
from hypothesis import strategies as st

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
    keep = closure(packages, *roots)
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
    # F costs 80 MB * (1/5 + 30/1100) = 18 MB: over the bound at budget 96 (716 kB).
    graph = image("A")
    loose = {frozenset(graph.names[i] for i in l.members) for l in cohort.group(graph, POP, 96)}
    assert frozenset("F") in loose and frozenset("D") in loose


def test_without_popularity_a_path_stands_alone_unless_it_is_part_of_its_referrer():
    # Without data nothing says who else needs C or D: each path is its own
    # cohort, whatever else the image holds; the budget-1 biggest stand alone.
    assert layers("A", popularity={}) == {frozenset("F"), frozenset("A"), frozenset("CD")}
    assert layers("AB", budget=96, popularity={}) == {frozenset(n) for n in "ABCDEFG"}
    # outputs of one derivation, and parts of one package, travel together
    kin = {
        "openssl-3.0.8-bin": (1 * M, ["openssl-3.0.8"]), "openssl-3.0.8": (5 * M, []),
        "squid-5.7": (9 * M, ["squid-common-5.7", "openssl-3.0.8"]), "squid-common-5.7": (4 * M, []),
    }
    graph = image(["openssl-3.0.8-bin", "squid-5.7"], kin)
    found = {frozenset(graph.names[i] for i in layer.members) for layer in cohort.group(graph, {}, 96)}
    assert found == {frozenset({"openssl-3.0.8-bin", "openssl-3.0.8"}),
                     frozenset({"squid-5.7", "squid-common-5.7"})}


def test_a_path_missing_from_the_popularity_data_but_needed_stays_alone():
    # F, a name the data has never seen at any version: reading it as 1 would
    # glue it to D whatever its real popularity.
    stale = {n: c for n, c in POP.items() if n != "F"}
    assert frozenset("F") in layers("A", popularity=stale)
    assert frozenset("D") in layers("A", popularity=stale)


def test_a_name_the_data_lacks_is_found_at_another_version():
    # a version bump renames a package, not who needs it: popularity made
    # before the bump still glues the new lib to the new app
    packages = {"app-2.1": (10 * M, ["lib-1.1"]), "lib-1.1": (1 * M, [])}
    graph = image(["app-2.1"], packages)
    before_the_bump = {"app-2.0": 5, "lib-1.0": 6}
    found = {frozenset(graph.names[i] for i in layer.members)
             for layer in cohort.group(graph, before_the_bump, 20)}
    assert found == {frozenset({"app-2.1", "lib-1.1"})}


def test_a_merge_costs_the_whole_cohort_it_brings():
    # Q (1 kB) heads a cohort with R (50 MB).  Q is needed without P in 4 of
    # its 11 uses: moving Q alone under P would cost 0.4 kB, moving its
    # cohort costs 18 MB, over the bound at budget 20 (60/400 of P's 51 MB).
    packages = {"P": (1 * M, ["Q"]), "Q": (1000, ["R"]), "R": (50 * M, [])}
    graph = image(["P"], packages)
    found = {frozenset(graph.names[i] for i in layer.members)
             for layer in cohort.group(graph, {"P": 6, "Q": 10, "R": 10}, 20)}
    assert found == {frozenset("P"), frozenset("QR")}


def test_the_layers_of_the_biggest_root_come_first_then_the_next_roots():
    # A's closure (161 MB) before B's (153 MB); within each, biggest first;
    # a classic Docker cache reuses only a common prefix of the layers, and
    # images that share their biggest package share all of its layers first.
    order = [frozenset(image("AB").names[i] for i in layer.members)
             for layer in cohort.group(image("AB"), POP, 96)]
    assert order == [frozenset("F"), frozenset("AC"), frozenset("D"), frozenset("BE"), frozenset("G")]
    # the rest, which no other image has, goes last
    order = [frozenset(image("AB").names[i] for i in layer.members)
             for layer in cohort.group(image("AB"), POP, 2)]
    assert order == [frozenset("DF"), frozenset("ABCEG")]


# The property cohorts exist for --------------------------------------------------


@st.composite
def universes(draw):
    """A package set (unique names, sizes, references) and two requests."""
    n = draw(st.integers(1, 30))
    packages = {}
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=4)) if i else []
        packages[f"p{i}"] = (draw(st.integers(0, 5 * M)), [f"p{d}" for d in deps])
    names = sorted(packages)
    requests = [draw(st.lists(st.sampled_from(names), min_size=1, unique=True)) for _ in range(2)]
    return packages, requests


def shared_users(packages, q):
    """Whether two referrers of ``q``, neither needing the other, have a user
    in common: the one way rule 1 can let ``q`` change cohorts."""
    referrers = [n for n, (_, deps) in packages.items() if q in deps]
    users = {n: {m for m in packages if n in closure(packages, m)} - {n} for n in referrers}
    return any(
        users[a] & users[b]
        for a in referrers for b in referrers
        if a < b and a not in closure(packages, b) and b not in closure(packages, a)
    )


@settings(max_examples=300, deadline=None)
@given(universes(), st.sampled_from([2, 20, 96]))
def test_a_cohort_is_the_same_in_every_image_it_heads(universe, budget):
    packages, requests = universe
    # popularity as popcount computes it over the whole package set
    popularity = {n: sum(n in closure(packages, m) for m in packages) for n in packages}
    cohorts = []
    for request in requests:
        graph = image(request, packages)
        found = cohort.cohorts(graph, popularity, budget)
        cohorts.append({graph.names[head]: frozenset(graph.names[i] for i in members)
                        for head, members in found.items()})
    for head in cohorts[0].keys() & cohorts[1].keys():
        first, second = cohorts[0][head], cohorts[1][head]
        if first != second:
            # only a path with two referrers that share users can move
            assert any(shared_users(packages, q) for q in first ^ second)


@settings(max_examples=200, deadline=None)
@given(universes(), st.sampled_from([2, 20, 96]), st.sampled_from([3, 1000, 10**6]), st.booleans())
def test_scaling_every_size_leaves_the_layers_unchanged(universe, budget, factor, with_popularity):
    packages, requests = universe
    popularity = {n: sum(n in closure(packages, m) for m in packages) for n in packages}
    if not with_popularity:
        popularity = {}
    scaled = {n: (size * factor, deps) for n, (size, deps) in packages.items()}
    for request in requests:
        plain = cohort.group(image(request, packages), popularity, budget)
        assert cohort.group(image(request, scaled), popularity, budget) == plain


def test_names_are_found_at_another_version_and_only_of_their_own_package():
    # "lib1" is not "lib10", nor "lib-extra" "lib", however many are missing
    popularity = {f"lib{i}-1.0": i + 2 for i in range(100)} | {"other-2": 7, "lib-extra-1": 9}
    names = [f"lib{i}-1.1" for i in range(100)] + ["other-3", "new-1", "lib-2"]
    expected = [i + 2 for i in range(100)] + [7, None, None]
    assert cohort._counts(names, popularity) == expected
    assert cohort._counts(names[:2] + names[-3:], popularity) == expected[:2] + expected[-3:]
    # a name without a version is its package's too; names sharing a first
    # word ("python3.11-...") are told apart by their whole package name
    popularity = {"tool": 4, "python3.11-a-1": 6, "python3.11-ab-1": 8}
    assert cohort._counts(["tool-2", "python3.11-a-2", "python3.11-abc-2"], popularity) == [4, 6, None]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text("ab-+.1", min_size=1, max_size=6), max_size=60), st.sets(st.text("ab+.1", max_size=3)))
def test_names_sharing_a_first_word_are_found_however_many_words(known, words):
    # few words are looked up in the sorted names, many found in one pass:
    # either way every name of those first words, whatever sorts near them
    popularity = dict.fromkeys(known, 2)
    found = {n for n in cohort._sharing_first_word(popularity, words) if n.partition("-")[0] in words}
    assert found == {n for n in known if n.partition("-")[0] in words}


def test_names_are_found_alike_among_few_or_many_names():
    names = ["lib1-1.1", "lib1-1.1-bin", "other-3", "lib-2"]
    popularity = {"lib1-1.0": 4, "lib1-0.9": 6, "lib1-1.0-bin": 3, "other-2": 7, "lib10-1": 9, "lib-extra-1": 5}
    padded = popularity | {f"z{i}-1": 1 for i in range(1000)}  # few words among many names
    assert cohort._counts(names, popularity) == cohort._counts(names, padded) == [6, 3, 7, None]


def test_a_bumped_output_takes_its_own_outputs_count():
    # openssl-3.0.9-bin is openssl-3.0.8-bin bumped, not openssl-3.0.8: an
    # output used by few must not borrow the library's count and glue it
    popularity = {"x-1.0": 50, "x-1.0-bin": 5}
    assert cohort._counts(["x-1.1", "x-1.1-bin", "x-1.1-dev"], popularity) == [50, 5, None]


def test_a_referrer_counted_above_its_reference_costs_no_less_than_nothing():
    # inconsistent data (D counted above F, which every user of D needs) must
    # not make rule 2's share negative and let the 80 MB F join at budget 96
    graph = image("A")
    found = {frozenset(graph.names[i] for i in layer.members)
             for layer in cohort.group(graph, POP | {"D": 40}, 96)}
    assert frozenset("F") in found


NAME_PARTS = st.sampled_from(["a", "b", "ab", "lib", "1", "1.0", "2", "bin", "dev", ""])


@given(st.lists(st.lists(NAME_PARTS, min_size=1, max_size=5).map("-".join), min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_kin_found_by_name_are_every_kin(names):
    # _named_kin is _kin's index: it may offer more, never fewer.
    family = [cohort._family(name) for name in names]
    named = cohort._named_kin(family)
    for q, fq in enumerate(family):
        kin = {p for p, fp in enumerate(family) if cohort._kin(fp, fq)}
        assert kin <= set(named[q]), (names[q], [names[p] for p in kin])
