"""The benchmarks' own code: the corpus as Nix graphs, and the pull accounting."""

import pytest

from benchmarks import sharing
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


def test_cohorts_recur_across_the_public_workload(corpus):
    graphs = [corpus.image_graph(r) for r in corpus.requests]
    line = sharing.stability(graphs, corpus.popularity, (20,))
    steady, total = map(int, line.rsplit(": ", 1)[1].split(" of "))
    assert total > 100 and steady >= 0.95 * total
