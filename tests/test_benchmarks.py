"""The benchmarks' own code: the corpus as Nix graphs, and the pull accounting."""

import pytest

from benchmarks import sharing
from benchmarks.corpus import Corpus
from group_layers import validate


class Quiet:
    def step(self):
        pass


@pytest.fixture(scope="module")
def corpus():
    return Corpus()


def test_an_image_document_is_what_the_engine_accepts(corpus):
    request = corpus.requests[0]
    doc = corpus.image_document(request)
    graph = validate.graph(doc, "image.attrs.json")
    assert graph == corpus.image_graph(request)
    assert {graph.paths[r] for r in graph.roots} == {corpus.path[n] for n in request}
    # popularity keys are the paths' names
    assert any(name in corpus.popularity for name in graph.names)


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
