"""The scale benchmark's generator (benchmarks/scale.py): its graphs are the
shapes it claims, deterministic, valid input, and of the corpus' degree."""

import json
import statistics
from collections import Counter

import pytest

from benchmarks import scale
from benchmarks.corpus import Corpus
from engine_support import run
from group_layers import validate
from test_engine_scale import naive_closure_sizes


@pytest.fixture(scope="module")
def degrees():
    return scale.Degrees(Corpus())


def test_star_and_chain_are_what_they_say():
    assert scale.star(4) == [[1, 2, 3], [], [], []]
    assert scale.chain(4) == [[1], [2], [3], []]


def test_random_dag_is_deterministic_acyclic_and_of_real_degree(degrees):
    n = 20_000
    refs, sizes = scale.generate("dag", n, degrees)
    assert (refs, sizes) == scale.generate("dag", n, degrees)
    assert scale.generate("dag", n, degrees, seed=scale.SEED + 1)[0] != refs
    assert all(list(r) == sorted(set(r)) for r in refs)
    assert all(all(j < i for j in r) for i, r in enumerate(refs))  # below: acyclic
    # out-degree: the corpus' (paths near the bottom have fewer to pick from)
    out = [len(r) for r in refs[n // 10:]]
    assert statistics.mean(out) == pytest.approx(statistics.mean(degrees.out), rel=0.1)
    # in-degree: concentrated on the bottom paths, as on glibc
    into = Counter(j for r in refs for j in r)
    assert into.most_common(1)[0][0] < n // 100
    assert sum(into[j] for j in range(n // 100)) > 0.5 * sum(out)
    assert len(set(sizes)) > 100  # drawn from the corpus' sizes


def test_path_info_documents_are_valid_and_exact(degrees):
    n = 400
    for shape in scale.SHAPES:
        refs, sizes = scale.generate(shape, n, degrees)
        with_sizes = validate.graph(scale.path_info(shape, refs, sizes, True), shape)
        without = validate.graph(scale.path_info(shape, refs, sizes, False), shape)
        assert without.given_closure_size is None
        # indices follow the sorted store paths: map back by name
        number = {p: int(p.rsplit("-p", 1)[1].split("-")[0]) for p in with_sizes.paths}
        expected = naive_closure_sizes(sizes, refs)
        assert [expected[number[p]] for p in with_sizes.paths] == list(with_sizes.closure_size)
        assert with_sizes.closure_size == without.closure_size
        assert {number[with_sizes.paths[i]] for i in with_sizes.roots} == (
            set(range(n)) - {j for r in refs for j in r})


def test_popularity_matches_the_shape(degrees):
    assert scale.popularity("star", 4, degrees) == [1, 2, 2, 2]
    assert scale.popularity("chain", 4, degrees) == [1, 2, 3, 4]
    counts = scale.popularity("dag", 1000, degrees)
    assert counts == sorted(counts, reverse=True) and counts[0] == max(degrees.popularity)


def test_written_inputs_run_through_the_engine(tmp_path):
    scale.main(["--write-inputs", str(tmp_path), "--paths", "300", "--only", "dag,chain"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chain-no-closure.json", "chain-pop.json", "chain.json",
        "dag-no-closure.json", "dag-pop.json", "dag.json"]
    validate.popularity(json.loads((tmp_path / "dag-pop.json").read_text()), "pop")
    for strategy in ("cohort", "nixery"):
        result = run("--graph", tmp_path / "dag-no-closure.json", "--pop", tmp_path / "dag-pop.json",
                     "--strategy", strategy, "--out", tmp_path / f"{strategy}.json")
        assert result.returncode == 0, result.stderr
        layers = json.loads((tmp_path / f"{strategy}.json").read_text())
        assert sum(len(layer["contents"]) for layer in layers) == 300
