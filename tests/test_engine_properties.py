"""Properties every registered strategy must have, on random DAGs (hypothesis),
through the whole command (in process, for speed): every path in exactly one
layer, at most ``budget`` layers, the same bytes whatever the order of entries
and references or the graph's shape; and popcount on single graphs."""

import json
import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_support import (attrs_document, closure, dags, path_info_list, path_info_object,
                            store_path, unreferenced)
from group_layers.cli import main
from group_layers.graph import package_name
from group_layers.strategies import STRATEGIES

SETTINGS = settings(max_examples=60, deadline=None)


def for_every_strategy(**arguments):
    """A hypothesis test run for each strategy in the registry."""
    def decorate(test):
        return pytest.mark.parametrize("strategy", sorted(STRATEGIES))(
            SETTINGS(given(**arguments)(test)))
    return decorate


def layers_of(doc, popularity, budget, strategy, directory):
    """The bytes ``group-layers`` writes for ``doc``."""
    directory = Path(directory)
    (directory / "graph.json").write_text(json.dumps(doc))
    (directory / "pop.json").write_text(json.dumps(popularity))
    status = main(["--graph", str(directory / "graph.json"), "--pop", str(directory / "pop.json"),
                   "--budget", str(budget), "--strategy", strategy,
                   "--out", str(directory / "layers.json")])
    assert status == 0
    return (directory / "layers.json").read_bytes()


def shuffled(doc, rng):
    """``doc`` (structured attrs) with its entries, references and roots in another order."""
    graph = [dict(e, references=rng.sample(e["references"], len(e["references"])))
             for e in doc["graph"]]
    roots = doc["exportReferencesGraph"]["graph"]
    return dict(doc, graph=rng.sample(graph, len(graph)),
                exportReferencesGraph={"graph": rng.sample(roots, len(roots))})


@for_every_strategy(dag=dags(), budget=st.integers(1, 12))
def test_every_path_in_exactly_one_layer_within_budget(strategy, dag, budget):
    packages, roots, popularity = dag
    with tempfile.TemporaryDirectory() as directory:
        result = json.loads(layers_of(attrs_document(packages, roots), popularity, budget,
                                      strategy, directory))
    assert len(result) <= budget
    contents = [p for layer in result for p in layer["contents"]]
    assert sorted(contents) == sorted(map(store_path, packages))
    assert all(layer["contents"] == sorted(layer["contents"]) for layer in result)


@for_every_strategy(dag=dags(), budget=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_order_of_entries_and_references_does_not_matter(strategy, dag, budget, seed):
    packages, roots, popularity = dag
    doc = attrs_document(packages, roots)
    with tempfile.TemporaryDirectory() as directory:
        assert (layers_of(doc, popularity, budget, strategy, directory)
                == layers_of(shuffled(doc, random.Random(seed)), popularity, budget, strategy,
                             directory))


@for_every_strategy(dag=dags(), budget=st.integers(1, 12))
def test_every_graph_shape_gives_the_same_layers(strategy, dag, budget):
    packages, _, popularity = dag
    with tempfile.TemporaryDirectory() as directory:
        outputs = {
            layers_of(doc, popularity, budget, strategy, directory)
            for doc in (attrs_document(packages, unreferenced(packages)),
                        path_info_list(packages), path_info_object(packages))
        }
    assert len(outputs) == 1


@SETTINGS
@given(dags())
def test_popcount_counts_the_roots_whose_closure_has_each_name(dag):
    packages, roots, _ = dag
    expected = Counter()
    for root in roots:
        expected.update({package_name(store_path(k)) for k in closure(packages, root)})
    with tempfile.TemporaryDirectory() as directory:
        graph = Path(directory) / "graph.json"
        graph.write_text(json.dumps(attrs_document(packages, roots)))
        assert main(["popcount", str(graph), "--out", str(Path(directory) / "pop.json")]) == 0
        assert json.loads((Path(directory) / "pop.json").read_text()) == dict(expected)
