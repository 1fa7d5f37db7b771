"""The ``group-layers`` command through a subprocess (``python -m group_layers``)."""

import json
import re

import pytest

from engine_support import (attrs_document, path_info_list, path_info_object, run, store_path,
                            write_json)
from group_layers import __version__, cli
from group_layers.layer import Layer
from group_layers.strategies import DEFAULT, STRATEGIES

PACKAGES = {
    "hello-2.12": (100, ["glibc-2.37"]),
    "curl-8.4": (300, ["openssl-3.0", "glibc-2.37"]),
    "openssl-3.0": (5_000, ["glibc-2.37"]),
    "glibc-2.37": (30_000, []),
}
ROOTS = ["hello-2.12", "curl-8.4"]
POPULARITY = {"glibc-2.37": 5000, "openssl-3.0": 1200, "curl-8.4": 40}


@pytest.fixture
def image(tmp_path):
    write_json(tmp_path / "graph.json", attrs_document(PACKAGES, ROOTS))
    write_json(tmp_path / "pop.json", POPULARITY)
    return tmp_path


def layers_in(text):
    return [layer["contents"] for layer in json.loads(text)]


def test_json_output(image):
    process = run("--graph", "graph.json", "--pop", "pop.json", "--budget", "3",
                  "--strategy", "nixery", "--out", "layers.json", cwd=image)
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    result = json.loads((image / "layers.json").read_text())
    assert [sorted(layer) for layer in result] == [["contents", "name", "size", "why"]] * len(result)
    assert sorted(p for layer in result for p in layer["contents"]) == sorted(
        map(store_path, PACKAGES))
    assert len(result) <= 3


def test_nixery_defaults(image):
    (image / "graph.json").rename(image / ".attrs.json")
    process = run(cwd=image)
    assert process.returncode == 0, process.stderr
    assert layers_in((image / "layers.json").read_text())


def test_options_with_one_dash_as_go_flag_takes_them(image):
    one = run("-graph", "graph.json", "-pop", "pop.json", "-budget", "2", "-out", "-", cwd=image)
    two = run("--graph=graph.json", "--pop=pop.json", "--budget=2", "--out=-", cwd=image)
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout


def test_stdin_and_stdout(image):
    from_file = run("--graph", "graph.json", "--out", "-", cwd=image)
    piped = run("--graph", "-", "--out", "-", cwd=image, stdin=(image / "graph.json").read_text())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == from_file.stdout
    assert not (image / "-").exists()


@pytest.mark.parametrize("shape", [path_info_list, path_info_object])
def test_nix_path_info_shapes(image, shape):
    # nix path-info's roots are the unreferenced paths: hello and curl here too.
    write_json(image / "info.json", shape(PACKAGES))
    for strategy in STRATEGIES:
        attrs = run("--graph", "graph.json", "--strategy", strategy, "--out", "-", cwd=image)
        info = run("--graph", "info.json", "--strategy", strategy, "--out", "-", cwd=image)
        assert info.returncode == 0, info.stderr
        assert info.stdout == attrs.stdout


def test_strategy_choices_and_default(image):
    process = run("--help")
    assert process.returncode == 0
    for name in STRATEGIES:
        assert name in process.stdout
    default = run("--graph", "graph.json", "--out", "-", cwd=image)
    named = run("--graph", "graph.json", "--strategy", DEFAULT, "--out", "-", cwd=image)
    assert default.stdout == named.stdout


def test_help_fits_the_terminal():
    # argparse is told a width only once every argument is added (cli._Parser)
    narrow, wide = (run("--help", env={"COLUMNS": str(columns)}).stdout.splitlines() for columns in (50, 150))
    assert len(narrow) > len(wide) and max(map(len, wide)) > 80


def test_whole_output_through_a_pipe_and_a_profiler_still_reports(image):
    # the command exits without the interpreter's shutdown (cli.run): its
    # output must still be flushed whole, and a profiler, which reports at
    # shutdown, must still get one
    plain = run("--graph", "graph.json", "--out", "-", cwd=image, env={"PYTHONUNBUFFERED": ""})  # buffered
    profiled = run("--graph", "graph.json", "--out", "-", cwd=image, python=("-m", "cProfile"))
    assert plain.returncode == profiled.returncode == 0
    assert layers_in(plain.stdout)
    assert profiled.stdout.startswith(plain.stdout) and "function calls" in profiled.stdout


def test_table_format(image):
    process = run("--graph", "graph.json", "--pop", "pop.json", "--strategy", "nixery",
                  "--format", "table", "--out", "-", cwd=image)
    assert process.returncode == 0, process.stderr
    header, *rows, total = process.stdout.splitlines()
    assert header.split() == ["layer", "size", "paths", "main", "package", "why"]
    # Nixery: glibc and openssl popular, hello and curl roots.
    assert sorted(row.split()[-2:][0] for row in rows) == sorted(PACKAGES)
    assert {row.split()[-1] for row in rows} == {"popular", "root"}
    assert re.fullmatch(r"total\s+34\.6 KiB\s+4", total)


def test_dot_format(image):
    process = run("--graph", "graph.json", "--pop", "pop.json", "--format", "dot", "--out", "-",
                  cwd=image)
    assert process.returncode == 0, process.stderr
    text = process.stdout
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    labels = re.findall(r'label="([^"\\]+)\\nlayer (\d+)"', text)
    assert sorted(name for name, _ in labels) == sorted(PACKAGES)
    # A tree: one edge into each path; glibc, shared by both roots, hangs off the image.
    edges = re.findall(r"(\w+) -> (\w+);", text)
    assert sorted(target for _, target in edges) == [f"p{i}" for i in range(len(PACKAGES))]
    glibc = sorted(map(store_path, PACKAGES)).index(store_path("glibc-2.37"))
    assert ("image", f"p{glibc}") in edges


def test_popcount(tmp_path):
    write_json(tmp_path / "hello.json", attrs_document(PACKAGES, ["hello-2.12"]))
    write_json(tmp_path / "both.json", attrs_document(PACKAGES, ROOTS))
    process = run("popcount", "hello.json", "both.json", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    # hello is a root of both graphs but counts once.
    assert json.loads(process.stdout) == {
        "hello-2.12": 1, "curl-8.4": 1, "openssl-3.0": 1, "glibc-2.37": 2,
    }
    assert run("popcount", "hello.json", "--out", "pop.json", cwd=tmp_path).returncode == 0
    assert json.loads((tmp_path / "pop.json").read_text())["glibc-2.37"] == 1


def test_popcount_output_feeds_the_layers(tmp_path):
    write_json(tmp_path / "graph.json", attrs_document(PACKAGES, ROOTS))
    assert run("popcount", "graph.json", "--out", "pop.json", cwd=tmp_path).returncode == 0
    assert run("--graph", "graph.json", "--pop", "pop.json", cwd=tmp_path).returncode == 0


def test_version():
    process = run("--version")
    assert process.returncode == 0
    assert process.stdout.strip() == f"group-layers {__version__}"


def test_output_is_replaced_whole(image):
    (image / "layers.json").write_text("old")
    assert run("--graph", "graph.json", cwd=image).returncode == 0
    assert layers_in((image / "layers.json").read_text())
    assert [p.name for p in image.iterdir() if p.name.startswith(".group-layers-")] == []


def test_a_strategy_that_breaks_its_contract_is_an_internal_error(image, monkeypatch, capsys):
    monkeypatch.setitem(STRATEGIES, DEFAULT, lambda graph, popularity, budget: [Layer((0,), "x")])
    status = cli.main(["--graph", str(image / "graph.json"), "--out", str(image / "out.json")])
    assert status == 1
    assert "internal error" in capsys.readouterr().err
    assert not (image / "out.json").exists()


def test_a_layer_is_named_after_its_head_not_its_first_path(tmp_path):
    # glibc's cohort: glibc needs libidn2, whose store path sorts first.
    packages = {"app-1": (10, ["glibc-2.37"]), "app-2": (10, ["glibc-2.37"]),
                "app-3": (10, ["glibc-2.37"]), "glibc-2.37": (30_000, ["libidn2-2.3"]),
                "libidn2-2.3": (300, [])}
    write_json(tmp_path / "graph.json", attrs_document(packages, ["app-1", "app-2", "app-3"]))
    # libidn2 is used only through glibc, so with popularity it joins glibc's cohort.
    write_json(tmp_path / "pop.json", {"app-1": 1, "app-2": 1, "app-3": 1, "glibc-2.37": 3, "libidn2-2.3": 3})
    process = run("--graph", "graph.json", "--pop", "pop.json", "--budget", "10", "--out", "-", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    layers = json.loads(process.stdout)
    glibc = next(layer for layer in layers if store_path("glibc-2.37") in layer["contents"])
    assert store_path("libidn2-2.3") in glibc["contents"]
    assert min(glibc["contents"]) == store_path("libidn2-2.3")
    assert glibc["name"] == "glibc-2.37"
