"""The layer lock (``--previous``) on the Debian corpus: what it keeps across
an edit and an update, what it refuses, and that without it nothing changes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import churn
from benchmarks.corpus import Corpus
from engine_support import assert_rejected, attrs_document, dags, run, store_path
from group_layers import lock, validate
from group_layers.graph import from_document
from group_layers.graph import package_name
from group_layers.layer import Layer
from group_layers.strategies import STRATEGIES
from group_layers.strategies.cohort import output_of

REQUEST = ["python3.11", "git", "curl"]


@pytest.fixture(scope="module")
def corpus():
    return Corpus()


def plan(graph, popularity, budget, previous=None):
    layers = STRATEGIES["cohort"](graph, popularity, budget)
    if previous is not None:
        layers = lock.plan(graph, previous, layers, budget)
    return [frozenset(graph.paths[i] for i in layer.members) for layer in layers]


def rows(layers):
    return [{"contents": sorted(layer)} for layer in layers]


@pytest.mark.parametrize("budget", [96, 20, 8])
def test_adding_a_package_keeps_every_old_layer_first_and_in_order(corpus, budget):
    before = corpus.image_graph(REQUEST)
    old = plan(before, corpus.popularity, budget)
    after = corpus.image_graph(REQUEST + ["imagemagick"])
    new = plan(after, corpus.popularity, budget, rows(old))
    assert len(new) <= budget
    if len(old) < budget:
        assert new[: len(old)] == old  # same contents, same blobs, same ChainIDs
    else:  # at the budget, the smallest old layer makes room for what is new
        smallest = min(old, key=lambda layer: sum(before.nar_size[before.paths.index(p)] for p in layer))
        assert new[: len(old) - 1] == [layer for layer in old if layer != smallest]
    scratch = plan(after, corpus.popularity, budget)
    kept, regrouped = sum(layer in old for layer in new), sum(layer in old for layer in scratch)
    assert kept > regrouped if budget < 96 else kept == regrouped == len(old)


def keys(layer):
    return {output_of(package_name(p)) for p in layer}


def locked(graph, popularity, budget, previous):
    """The lock's plan as ``[(frozenset of paths, changed paths)]`` from one such."""
    layers = lock.plan(graph, [{"contents": sorted(paths), "changed": sorted(changed)}
                               for paths, changed in previous],
                       STRATEGIES["cohort"](graph, popularity, budget), budget)
    return [(frozenset(graph.paths[i] for i in layer.members), [graph.paths[i] for i in layer.changed])
            for layer in layers]


def test_a_path_keeps_its_layer_across_a_version_bump(corpus):
    budget = 40
    before = corpus.image_graph(REQUEST)
    old = [(layer, []) for layer in plan(before, corpus.popularity, budget)]
    updates, current, plans = [], corpus, [old]
    for step in range(1, 4):
        current, _ = churn.updated(current, {"libssl3"}, tag=f"u{step}")
        updates.append(current.image_graph(REQUEST))
        plans.append(locked(updates[-1], current.popularity, budget, plans[-1]))
    after, new = updates[0], [layer for layer, _ in plans[1]]
    gone = set(before.paths) - set(after.paths)
    ssl = next(p for p in gone if package_name(p).startswith("libssl3-"))
    for layer, _ in old:
        if not layer & gone:
            assert layer in new  # untouched by the update: kept
        elif ssl in layer:  # the bumped library's layer: the same packages
            successor = next(n for n in new if keys(n) & keys([ssl]))
            assert keys(successor) == keys(layer)
    # what changed beside unchanged mates is recorded, split off when it changes again,
    # so that the third bump pulls less than a plan from scratch
    assert any(changed for _, changed in plans[1])
    assert len(plans[2]) > len(plans[1])
    scratch = plan(updates[2], current.popularity, budget)
    cached = {layer for layer, _ in plans[2]}
    pulled = lambda layers: sum(sum(updates[2].nar_size[updates[2].paths.index(p)] for p in layer)  # noqa: E731
                                for layer in layers if layer not in cached)
    assert pulled(layer for layer, _ in plans[3]) < pulled(scratch)


@pytest.mark.parametrize("recorded", [False, True])
def test_a_plan_cut_apart_from_the_strategy_s_is_made_afresh_unless_the_cut_is_a_recorded_split(
        corpus, recorded):
    """git, git-man and liberror-perl share a layer from scratch (27 % of the
    image).  An old plan that holds git alone is drifted when nothing says
    git changes apart from the others: when git changes, the plan is made
    afresh.  Where git's layer records it as changed, the cut is the lock's
    split and stays."""
    budget = 40
    before = corpus.image_graph(REQUEST)
    old = plan(before, corpus.popularity, budget)
    shared = next(layer for layer in old if any(package_name(p).startswith("git-man-") for p in layer))
    git = {p for p in shared if package_name(p).startswith("git-1_")}
    assert git and len(shared) > len(git)
    previous = rows(layer for layer in old if layer != shared) + [
        {"contents": sorted(shared - git)}, {"contents": sorted(git), "changed": sorted(git) if recorded else []}]
    current, _ = churn.updated(corpus, {"git"}, tag="u1")
    after = current.image_graph(REQUEST)
    new = plan(after, current.popularity, budget, previous)
    assert (frozenset(shared - git) in new) == recorded
    assert (new == plan(after, current.popularity, budget)) != recorded


def test_a_removal_is_not_drift(corpus):
    """An old plan holds git's layer cut in two, git beside curl.  Removing
    curl breaks that layer and regroups git, but nothing changed: the cut is
    kept (no plan made afresh), and every other old layer with it."""
    budget = 40
    before = corpus.image_graph(REQUEST)
    old = plan(before, corpus.popularity, budget)
    shared = next(layer for layer in old if any(package_name(p).startswith("git-man-") for p in layer))
    git = {p for p in shared if package_name(p).startswith("git-1_")}
    after = corpus.image_graph(REQUEST[:-1])
    curl = {p for p in before.paths if package_name(p).startswith("curl-")} - set(after.paths)
    assert git and curl and not curl & shared
    holder = next(layer for layer in old if curl & layer)
    previous = rows(layer for layer in old if layer not in (shared, holder)) + [
        {"contents": sorted(shared - git)}, {"contents": sorted(git | (holder & set(after.paths)) | curl)}]
    new = plan(after, corpus.popularity, budget, previous)
    assert frozenset(shared - git) in new
    assert all(layer in new for layer in old if layer not in (shared, holder) and layer <= set(after.paths))


def hand_plan(packages, roots, old, layers, budget):
    """The lock's plan of a hand-made image: ``old`` and ``layers`` (the
    strategy's) as lists of package keys, ``old`` rows perhaps with
    ``changed``; the result as ``[(keys, changed keys)]``."""
    graph = from_document(attrs_document(packages, roots))
    key = {p: k for k in packages for p in [store_path(k)]}
    where = {p: i for i, p in enumerate(graph.paths)}
    previous = [{"contents": sorted(map(store_path, row)), "changed": sorted(map(store_path, changed))}
                for row, changed in old]
    strategy = [Layer(tuple(sorted(where[store_path(k)] for k in layer)), "strategy") for layer in layers]
    return [(sorted(key[graph.paths[i]] for i in layer.members), sorted(key[graph.paths[i]] for i in layer.changed))
            for layer in lock.plan(graph, previous, strategy, budget)]


@pytest.mark.parametrize("mates", [50, 500])
def test_a_split_is_made_only_where_it_pays_for_the_layers_merged_to_make_room(mates):
    """ssl-2 replaces ssl-1, which changed before beside data-1.  Splitting
    ssl from data needs a slot: at the budget, the two cheapest kept layers
    (110 bytes) merge to make one.  That pays only if data, which the split
    keeps from being pulled again at ssl's next change, weighs more."""
    def image(ssl):
        return {"app-1": (10, ["big-1", "huge-1", "data-1"]), "big-1": (100, []), "huge-1": (1000, []),
                "data-1": (mates, []), ssl: (10, [])}
    old = [(["app-1"], []), (["big-1"], []), (["huge-1"], []), (["data-1", "ssl-1"], ["ssl-1"])]
    new = hand_plan(image("ssl-2"), ["app-1", "ssl-2"], old,
                    [["app-1"], ["big-1"], ["huge-1"], ["data-1", "ssl-2"]], budget=4)
    if mates < 110:
        assert new == [(["app-1"], []), (["big-1"], []), (["huge-1"], []), (["data-1", "ssl-2"], ["ssl-2"])]
    else:
        assert new == [(["huge-1"], []), (["data-1"], []), (["ssl-2"], ["ssl-2"]), (["app-1", "big-1"], [])]


def test_the_kept_layer_that_makes_room_weighs_a_chainid_cache_at_half():
    """An image at its budget gains a package.  The 18-byte layer makes room
    rather than the last one (30 bytes), though under a ChainID cache that
    costs the last one too (18 + 30 against 30 for the digest cache): a
    digest cache counts in full, a ChainID cache at half."""
    packages = {"app-1": (5, ["big-1", "mid-1", "last-1"]), "big-1": (1000, []), "mid-1": (18, []),
                "last-1": (30, []), "new-1": (5, [])}
    old = [(["app-1", "big-1"], []), (["mid-1"], []), (["last-1"], [])]
    new = hand_plan(packages, ["app-1", "new-1"], old,
                    [["app-1", "big-1"], ["mid-1"], ["last-1"], ["new-1"]], budget=3)
    assert new == [(["app-1", "big-1"], []), (["last-1"], []), (["mid-1", "new-1"], [])]


def test_without_a_plan_for_the_image_the_output_is_the_strategy_s(tmp_path):
    packages = {"app": (10, ["lib"]), "lib": (30, [])}
    (tmp_path / "graph.json").write_text(json.dumps(attrs_document(packages, ["app"])))
    (tmp_path / "lock.json").write_text(json.dumps({"version": 1, "images": {"other": [], "another": []}}))
    plain = run("--graph", "graph.json", "--out", "-", cwd=tmp_path)
    locked = run("--graph", "graph.json", "--previous", "lock.json", "--image", "app", "--out", "-",
                 cwd=tmp_path)
    assert plain.returncode == locked.returncode == 0, locked.stderr
    assert locked.stdout == plain.stdout


def test_format_lock_round_trips(tmp_path):
    packages = {"app": (10, ["lib"]), "lib": (30, [])}
    (tmp_path / "graph.json").write_text(json.dumps(attrs_document(packages, ["app"])))
    made = run("--graph", "graph.json", "--format", "lock", "--image", "app", "--out", "lock.json",
               cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    written = json.loads((tmp_path / "lock.json").read_text())
    assert written["version"] == 1 and list(written["images"]) == ["app"]
    again = run("--graph", "graph.json", "--previous", "lock.json", "--out", "-", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [r["contents"] for r in json.loads(again.stdout)] == [r["contents"] for r in written["images"]["app"]]


def test_a_lock_of_one_image_follows_it_when_its_name_changes(tmp_path):
    """Adding a package renames an image whose name is made of its packages
    (bash/curl becomes bash/curl/jq): a lock holding one plan is used for
    it all the same, and the new lock holds the plan under the new name."""
    packages = {"app": (10, ["lib"]), "lib": (30, []), "tool": (20, ["lib"])}
    (tmp_path / "before.json").write_text(json.dumps(attrs_document(packages, ["app"])))
    (tmp_path / "after.json").write_text(json.dumps(attrs_document(packages, ["app", "tool"])))
    made = run("--graph", "before.json", "--budget", "1", "--format", "lock", "--image", "app",
               "--out", "lock.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    old = json.loads((tmp_path / "lock.json").read_text())["images"]["app"]
    assert len(old) == 1  # app and lib in one layer
    renamed = run("--graph", "after.json", "--budget", "3", "--previous", "lock.json", "--image", "app/tool",
                  "--format", "lock", "--out", "-", cwd=tmp_path)
    assert renamed.returncode == 0, renamed.stderr
    new = json.loads(renamed.stdout)["images"]
    assert list(new) == ["app/tool"]
    assert new["app/tool"][0]["contents"] == old[0]["contents"]
    scratch = run("--graph", "after.json", "--budget", "3", "--out", "-", cwd=tmp_path)
    assert old[0]["contents"] not in [row["contents"] for row in json.loads(scratch.stdout)]


def test_a_new_lock_carries_the_other_images_plans(tmp_path):
    packages = {"app": (10, ["lib"]), "lib": (30, [])}
    (tmp_path / "graph.json").write_text(json.dumps(attrs_document(packages, ["app"])))
    other = [{"contents": [LIB], "name": "lib-1", "size": 1, "why": "alone"}]
    (tmp_path / "lock.json").write_text(json.dumps({"version": 1, "images": {"web": other, "db": []}}))
    made = run("--graph", "graph.json", "--previous", "lock.json", "--image", "app", "--format", "lock",
               "--out", "-", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    plans = json.loads(made.stdout)["images"]
    assert list(plans) == ["app", "db", "web"]
    assert plans["web"] == other and plans["db"] == []


LIB = "/nix/store/00000000000000000000000000000000-lib-1"
BAD_LOCKS = {
    "a later version": ({"version": 2, "images": {}}, (), "/version", "lock version 2 is not supported"),
    "a path in two layers": ({"version": 1, "images": {"x": [{"contents": [LIB]}, {"contents": [LIB]}]}},
                             (), "/images/x/1/contents/0", "also at /images/x/0/contents/0"),
    "several plans, none named": ({"version": 1, "images": {"a": [], "b": []}}, (), "/images",
                                  "name one with --image"),
    "not a store path": ({"version": 1, "images": {"x": [{"contents": ["lib"]}]}}, (),
                         "/images/x/0/contents/0", "does not match"),
    "no version": ({"images": {}}, (), "", "'version' is a required property"),
    "an output without contents": ([{"name": "x"}], (), "/0", "'contents' is a required property"),
}


@pytest.mark.parametrize("case", BAD_LOCKS)
def test_a_bad_lock_is_refused(case, tmp_path):
    doc, arguments, pointer, words = BAD_LOCKS[case]
    packages = {"app": (10, ["lib"]), "lib": (30, [])}
    (tmp_path / "graph.json").write_text(json.dumps(attrs_document(packages, ["app"])))
    (tmp_path / "lock.json").write_text(json.dumps(doc))
    process = run("--graph", "graph.json", "--previous", "lock.json", "--out", "layers.json",
                  *arguments, cwd=tmp_path)
    assert_rejected(process, tmp_path / "layers.json", "lock.json", pointer, words)


@settings(max_examples=200, deadline=None)
@given(dags(max_paths=12), dags(max_paths=12), st.integers(1, 6), st.integers(1, 6), st.booleans())
def test_any_lock_keeps_the_output_contract(first, second, old_budget, budget, with_pop):
    """Whatever the old plan and the new graph, every path is in one layer
    and the budget holds (``validate.output`` raises otherwise)."""
    plans = []
    for (packages, roots, popularity), b in ((first, old_budget), (second, budget)):
        graph = from_document(attrs_document(packages, roots))
        layers = STRATEGIES["cohort"](graph, popularity if with_pop else {}, b)
        if plans:
            layers = lock.plan(graph, plans[-1], layers, b)
        rows = [{"contents": [graph.paths[i] for i in layer.members], "name": "x", "size": 0,
                 "why": layer.why, **({"changed": [graph.paths[i] for i in layer.changed]} if layer.changed else {})}
                for layer in layers]
        validate.output(graph, layers, b, rows)
        plans.append(rows)
