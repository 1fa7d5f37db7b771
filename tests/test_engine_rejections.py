"""Bad input, one test each: exit status 2, one line on stderr that names the
file (or option) and the offending element, and no output file."""

import copy
import json

import pytest

from engine_support import assert_rejected, attrs_document, path_info_list, path_info_object, run, store_path

PACKAGES = {
    "app": (10, ["lib", "tool"]),
    "tool": (20, ["lib"]),
    "lib": (30, []),
}


def attrs():
    return attrs_document(PACKAGES, ["app"])


def changed(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def duplicate_disagreeing(doc):
    doc["graph"].append(dict(doc["graph"][1], narSize=999))


def cycle(doc):
    # tool (entry 1) references app, which references tool; the reference
    # that closes the cycle found first is app's to tool.
    doc["graph"][1]["references"].append(store_path("app"))


# (graph document, extra arguments, the file named, pointer, words of the message)
CASES = {
    "reference to a path not in the graph": (
        changed(attrs(), lambda d: d["graph"][0]["references"].append(store_path("ghost"))),
        [], "graph.json", "/graph/0/references/3", "is not in the graph"),
    "root missing from the graph": (
        changed(attrs(), lambda d: d["exportReferencesGraph"]["graph"].append(store_path("ghost"))),
        [], "graph.json", "/exportReferencesGraph/graph/1", "is not in the graph"),
    "two entries for one path that disagree": (
        changed(attrs(), duplicate_disagreeing), [], "graph.json", "/graph/3", "disagrees with /graph/1"),
    "negative size": (
        changed(attrs(), lambda d: d["graph"][2].update(narSize=-1)),
        [], "graph.json", "/graph/2/narSize", "less than the minimum of 0"),
    "fractional size": (
        changed(attrs(), lambda d: d["graph"][2].update(closureSize=2.5)),
        [], "graph.json", "/graph/2/closureSize", "is not of type 'integer'"),
    "float size without a fraction": (
        changed(attrs(), lambda d: d["graph"][0].update(narSize=10.0)),
        [], "graph.json", "/graph/0/narSize", "10.0 is not an integer"),
    "size as a string": (
        changed(attrs(), lambda d: d["graph"][0].update(narSize="10")),
        [], "graph.json", "/graph/0/narSize", "is not of type 'integer'"),
    "entry without references": (
        changed(attrs(), lambda d: d["graph"][1].pop("references")),
        [], "graph.json", "/graph/1", "'references' is a required property"),
    "reference cycle": (
        changed(attrs(), cycle), [], "graph.json", "/graph/0/references/1", "reference cycle"),
    "attrs without exportReferencesGraph": (
        {"builder": "/bin/sh", "graph": []}, [], "graph.json", "",
        "'exportReferencesGraph' is a required property"),
    "graph that is not an object or list": (
        "hello", [], "graph.json", "", "is not of type 'object'"),
    "path-info list: relative path": (
        changed(path_info_list(PACKAGES), lambda d: d[0].update(path="nix/store/x")),
        [], "graph.json", "/0/path", "does not match"),
    "path-info list: unknown reference": (
        changed(path_info_list(PACKAGES), lambda d: d[2]["references"].append("/nix/store/x-y")),
        [], "graph.json", "/2/references/1", "is not in the graph"),
    "path-info object: null for an invalid path": (
        dict(path_info_object(PACKAGES), **{"/nix/store/x-y": None}),
        [], "graph.json", "/~1nix~1store~1x-y", "null: /nix/store/x-y is not a valid store path"),
    "budget below 1": (attrs(), ["--budget", "0"], "--budget", "", "at least 1"),
    "budget not a number": (attrs(), ["--budget", "many"], "arguments", "", "invalid int value"),
    "unknown strategy": (attrs(), ["--strategy", "best"], "arguments", "", "invalid choice"),
}

POPULARITY_CASES = {
    "popularity: negative count": ({"glibc-2.37": -3}, "/glibc-2.37", "less than the minimum"),
    "popularity: float count": ({"glibc-2.37": 3.0}, "/glibc-2.37", "3.0 is not an integer"),
    "popularity: not an object": ([1, 2], "", "is not of type 'object'"),
    "popularity: name with a slash": ({"a/b": "x"}, "/a~1b", "is not of type 'integer'"),
}

TEXT_CASES = {
    "not JSON": ('{"graph": [', "not JSON"),
    "NaN": ('[{"path": "/nix/store/x-y", "narSize": NaN, "references": []}]', "NaN"),
    "nested too deeply": ("[" * 100_000, "nested too deeply"),
    "not UTF-8": (b'["\xff"]'.decode("latin-1"), "not JSON"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_graph_or_arguments(case, tmp_path):
    doc, arguments, file, pointer, words = CASES[case]
    (tmp_path / "graph.json").write_text(json.dumps(doc))
    process = run("--graph", "graph.json", "--out", "layers.json", *arguments, cwd=tmp_path)
    assert_rejected(process, tmp_path / "layers.json", file, pointer, words)


@pytest.mark.parametrize("case", POPULARITY_CASES)
def test_bad_popularity(case, tmp_path):
    popularity, pointer, words = POPULARITY_CASES[case]
    (tmp_path / "graph.json").write_text(json.dumps(attrs()))
    (tmp_path / "pop.json").write_text(json.dumps(popularity))
    process = run("--graph", "graph.json", "--pop", "pop.json", "--out", "layers.json", cwd=tmp_path)
    assert_rejected(process, tmp_path / "layers.json", "pop.json", pointer, words)


@pytest.mark.parametrize("case", TEXT_CASES)
def test_bad_json(case, tmp_path):
    text, words = TEXT_CASES[case]
    (tmp_path / "graph.json").write_bytes(text.encode("latin-1"))
    process = run("--graph", "graph.json", "--out", "layers.json", cwd=tmp_path)
    assert_rejected(process, tmp_path / "layers.json", "graph.json", "", words)


def test_missing_graph_file(tmp_path):
    process = run("--out", "layers.json", cwd=tmp_path)
    assert_rejected(process, tmp_path / "layers.json", ".attrs.json", "", "No such file")


def test_unwritable_output_directory(tmp_path):
    (tmp_path / "graph.json").write_text(json.dumps(attrs()))
    process = run("--graph", "graph.json", "--out", "missing/layers.json", cwd=tmp_path)
    assert_rejected(process, tmp_path / "missing" / "layers.json", "missing/layers.json", "",
                    "cannot write")


def test_bad_input_leaves_an_existing_output_alone(tmp_path):
    (tmp_path / "graph.json").write_text("[")
    (tmp_path / "layers.json").write_text("old")
    process = run("--graph", "graph.json", "--out", "layers.json", cwd=tmp_path)
    assert process.returncode == 2
    assert (tmp_path / "layers.json").read_text() == "old"


def test_popcount_names_the_bad_graph(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(attrs()))
    (tmp_path / "bad.json").write_text(json.dumps(CASES["root missing from the graph"][0]))
    process = run("popcount", "good.json", "bad.json", "--out", "pop.json", cwd=tmp_path)
    assert_rejected(process, tmp_path / "pop.json", "bad.json", "/exportReferencesGraph/graph/1",
                    "is not in the graph")
