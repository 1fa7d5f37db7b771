"""The benchmarks' own code: the corpus as Nix graphs, and the pull accounting."""

import pytest

from benchmarks import autolayer, caches, churn, layer_lock, sharing, workload
from benchmarks.corpus import Corpus


class Quiet:
    def step(self):
        pass


@pytest.fixture(scope="module")
def corpus():
    return Corpus()


def test_an_image_document_is_what_nix_exports(corpus):
    request = ["bash", "coreutils"]
    doc = corpus.image_document(request)
    assert doc["exportReferencesGraph"]["graph"] == [corpus.path["bash"], corpus.path["coreutils"]]
    entries = {e["path"]: e for e in doc["graph"]}
    assert set(entries) == {corpus.path[n] for n in corpus.closure(request)}
    libc = entries[corpus.path["libc6"]]
    assert libc["path"] in libc["references"]  # Nix lists the self-reference
    assert libc["narSize"] == corpus.packages["libc6"]["size"]
    closure = corpus.closure(["libc6"])
    assert libc["closureSize"] == sum(corpus.packages[n]["size"] for n in closure)
    # popularity keys are the paths' names
    graph = corpus.image_graph(request)
    assert "libc6-" + corpus.packages["libc6"]["version"] in graph.names
    assert all(name in corpus.popularity for name in graph.names if name.startswith("libc6-"))


def test_pull_accounting(corpus):
    graphs = [corpus.image_graph(r) for r in corpus.requests[:10]]
    ideal, _ = sharing.pull(sharing.one_layer_per_path, graphs, {}, 5, Quiet())
    assert ideal == 1.0
    # the same image twice as one layer: pulled once
    twice, _ = sharing.pull(sharing.one_layer_per_image, graphs[:1] * 2, {}, 5, Quiet())
    assert twice == 1.0
    whole, _ = sharing.pull(sharing.one_layer_per_image, graphs, {}, 5, Quiet())
    assert whole < 1.0


def test_cohort_shares_more_than_nixery_on_the_public_workload(corpus):
    graphs = [corpus.image_graph(r) for r in corpus.requests]
    strategies = sharing.contenders()
    for budget in (96, 20):
        ours, _ = sharing.pull(strategies["cohort (default)"], graphs, corpus.popularity, budget, Quiet())
        theirs, _ = sharing.pull(strategies["nixery"], graphs, corpus.popularity, budget, Quiet())
        blind, _ = sharing.pull(strategies["cohort, no popularity"], graphs, {}, budget, Quiet())
        assert ours > 2 * theirs and blind > theirs


def test_the_yardstick_groups_the_paths_held_by_the_same_images(corpus):
    graphs = [corpus.image_graph(r) for r in corpus.requests[:12]]
    knowing = sharing.knowing_the_workload(graphs)
    held_by = {}
    for k, graph in enumerate(graphs):
        for path in graph.paths:
            held_by.setdefault(path, set()).add(k)
    for graph in graphs:
        layers = knowing(graph, {}, 10**6)
        signatures = [{frozenset(held_by[graph.paths[i]]) for i in layer.members} for layer in layers]
        assert all(len(s) == 1 for s in signatures)  # one group: the same images
        assert len({next(iter(s)) for s in signatures}) == len(layers)  # and all of them
        assert len(knowing(graph, {}, 3)) <= 3
    # nothing is ever downloaded twice when the budget allows every group
    assert sharing.pull(knowing, graphs, {}, 10**6, Quiet())[0] == 1.0
    assert sharing.pull(knowing, graphs, {}, 3, Quiet())[0] < 1.0


def test_cohorts_recur_across_the_public_workload(corpus):
    graphs = [corpus.image_graph(r) for r in corpus.requests]
    line = sharing.stability(graphs, corpus.popularity, (20,))
    steady, total = map(int, line.rsplit(": ", 1)[1].split(" of "))
    assert total > 100 and steady >= 0.95 * total


# Cache models ---------------------------------------------------------------


def layers(*keys):
    return [(frozenset(k), len(k)) for k in keys]


def test_a_digest_cache_reuses_a_layer_wherever_it_stands():
    cache = caches.DigestCache()
    assert cache.pull(layers("ab", "c")) == 3
    assert cache.pull(layers("d", "c", "ab")) == 1


def test_a_chain_cache_reuses_only_a_common_prefix():
    cache = caches.ChainCache()
    assert cache.pull(layers("ab", "c")) == 3
    assert cache.pull(layers("ab", "c", "d")) == 1  # the prefix ab, c is reused
    assert cache.pull(layers("d", "c", "ab")) == 4  # same layers, other order: nothing
    assert cache.pull(layers("ab", "e", "c")) == 2  # ab reused, c is above e now


# nixpkgs' auto-layer ------------------------------------------------------------


def test_auto_layer_keys_paths_by_the_lowest_primaries_above_them():
    # app1 -> lib, big;  app2 -> lib;  big -> base;  lib -> base
    from engine_support import attrs_document
    from group_layers.graph import from_document

    packages = {"app1": (50, ["lib", "big"]), "app2": (40, ["lib"]), "big": (100, ["base"]),
                "lib": (5, ["base"]), "base": (30, [])}
    graph = from_document(attrs_document(packages, ["app1", "app2"]))

    def cut(budget):
        return [sorted(graph.names[i] for i in layer.members) for layer in autolayer.group(graph, {}, budget)]

    # primaries by size: big, app1, app2, base, lib; all five fit in 5 layers
    assert sorted(cut(5)) == [["app1"], ["app2"], ["base"], ["big"], ["lib"]]
    # With 3 or 4: big (base under it joins), then app1 (lib under it joins;
    # big and base keep big, the lower primary); app2 would make lib {app1, app2}
    # and base {big, app2}: 5 keys, so it stops there.  app2 is keyed by no
    # primary.  Layers by growing closure size: app2 75, big 130, app1 185.
    assert cut(3) == cut(4) == [["app2"], ["base", "big"], ["app1", "lib"]]


# Updates ------------------------------------------------------------------------


def test_an_update_renames_the_bumped_and_moves_their_dependents(corpus):
    new, stale = churn.updated(corpus, {"zlib1g"})
    assert stale is corpus.popularity
    assert new.path["zlib1g"] != corpus.path["zlib1g"]
    assert new.path["libxml2"] != corpus.path["libxml2"]  # needs zlib1g
    assert new.path["libc6"] == corpus.path["libc6"]  # below it: unchanged
    old_name = corpus.path["zlib1g"].split("-", 1)[1]
    new_name = new.path["zlib1g"].split("-", 1)[1]
    assert old_name in stale and new_name not in stale
    assert new.popularity[new_name] == corpus.popularity[old_name]
    # a dependent keeps its name, hence its popularity entry
    assert new.path["libxml2"].split("-", 1)[1] == corpus.path["libxml2"].split("-", 1)[1]


def test_update_efficiency_counts_changed_paths_only(corpus):
    requests = corpus.requests[:8]
    graphs = [corpus.image_graph(r) for r in requests]
    scenario = {"zlib": [("zlib1g", {"zlib1g"})]}
    found = sharing.updates(corpus, requests, graphs, scenario, Quiet())
    # one layer per image pulls every image that changed again, in full
    whole, low, high = found["one layer per image", "zlib", 20]
    assert 0 < whole < 1 and low == high == whole
    new, _ = churn.updated(corpus, {"zlib1g"})
    new_graphs = [new.image_graph(r) for r in requests]
    changed = [g for g, h in zip(graphs, new_graphs) if g.paths != h.paths]
    pulled = sum(sum(h.nar_size) for g, h in zip(graphs, new_graphs) if g.paths != h.paths)
    assert changed and whole == pytest.approx(churn.new_bytes(graphs, new_graphs) / pulled)
    assert churn.pooled([(1, 2), (3, 4)]) == (4 / 6, 0.5, 0.75)


def test_the_second_workload_is_what_its_generator_makes(corpus):
    assert workload.requests(corpus) == sharing.workload(corpus, "second")


def test_the_layer_lock_benchmark_in_quick_mode(capsys):
    """``python -m benchmarks.layer_lock --quick``: the lock keeps an edited
    image's layers (better than a plan from scratch), and a random update
    costs no more than a plan from scratch."""
    results = layer_lock.main(["--quick"])
    found = results["public", "with popularity"]
    assert found["add one package, digest", "lock"][40] > found["add one package, digest", "scratch"][40]
    assert found["add one package, digest", "lock"][40] > 0.98
    assert found["1.0% update, digest", "lock"][40] >= found["1.0% update, digest", "scratch"][40]
    assert "| add one package, digest | lock |" in capsys.readouterr().out
