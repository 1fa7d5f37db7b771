"""popcount's arguments, its --paths file, and the engine without aiohttp
(the `cache` extra): what needs no Nix and no server."""

import json
import subprocess
import sys

from engine_support import REPO

# Runs the command with aiohttp unimportable, as where the extra is not installed.
WITHOUT_AIOHTTP = ("import sys; sys.modules['aiohttp'] = None; from group_layers import cli; "
                   "sys.exit(cli.main(sys.argv[1:]))")
HELLO = "/nix/store/y3hcnj3baamivwipqmjkcg2ljjdkqra2-hello-2.12.1"
LIB = "/nix/store/w777q5rzk7f8pnqycc3car6q6vl03ls8-libgreeting-1.0"


def run(*args, input=None):
    proc = subprocess.run([sys.executable, "-c", WITHOUT_AIOHTTP, *map(str, args)], cwd=REPO,
                          input=input, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def narinfo(path, *refs):
    # No space after an empty "References:", and a signature: as other caches write them.
    return (f"StorePath: {path}\nURL: nar/x.nar.xz\nCompression: xz\nNarHash: sha256:0\n"
            f"NarSize: 100\nReferences:{''.join(' ' + r.split('/')[-1] for r in refs)}\n"
            f"Sig: cache.example.org-1:c2lnbmF0dXJl\n")


def make_cache(folder):
    folder.mkdir()
    (folder / "nix-cache-info").write_text("StoreDir: /nix/store\n")
    for path, refs in ((HELLO, (HELLO, LIB)), (LIB, ())):
        (folder / (path.split("/")[-1][:32] + ".narinfo")).write_text(narinfo(path, *refs))
    return f"file://{folder}"


def test_the_engine_and_a_file_cache_work_without_aiohttp(tmp_path):
    graph = [{"path": HELLO, "narSize": 10, "references": [LIB]},
             {"path": LIB, "narSize": 20, "references": []}]
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    status, out, err = run("--graph", tmp_path / "graph.json", "--out", "-")
    assert status == 0, err and len(json.loads(out)) >= 1
    status, from_graph, err = run("popcount", tmp_path / "graph.json")
    assert status == 0, err
    url = make_cache(tmp_path / "cache")
    status, from_cache, err = run("popcount", "--cache", url, "--paths", "-", input=HELLO + "\n")
    assert status == 0, err
    assert from_cache == from_graph == '{\n"hello-2.12.1": 1,\n"libgreeting-1.0": 1\n}\n'


def test_an_http_cache_without_aiohttp_says_what_to_install():
    status, _, err = run("popcount", "--cache", "http://127.0.0.1:9/", "--paths", "-", input=HELLO)
    assert status == 2 and err.count("\n") == 1
    assert "group-layers[cache]" in err


def test_bad_arguments_and_paths_files(tmp_path):
    url = make_cache(tmp_path / "cache")
    (tmp_path / "bad").write_text(HELLO + "\nnot a store path\n")
    (tmp_path / "two-dirs").write_text(HELLO + "\n/gnu/store/" + LIB.split("/")[-1] + "\n")
    (tmp_path / "bad.xz").write_bytes(b"\xfd7zXZ\x00broken")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8bbroken")
    cases = {
        ("popcount",): "give GRAPH files, or --cache",
        ("popcount", "--cache", url): "--cache needs --paths",
        ("popcount", "g.json", "--cache", url, "--paths", "-"): "not both",
        ("popcount", "g.json", "--state", "s"): "--state only go with --cache",
        ("popcount", "--cache", url, "--paths", "-", "--jobs", "0"): "--jobs: 0",
        ("popcount", "--cache", url, "--paths", tmp_path / "bad"): "line 2: 'not a store path'",
        ("popcount", "--cache", url, "--paths", tmp_path / "two-dirs"): "several store dirs",
        ("popcount", "--cache", url, "--paths", tmp_path / "bad.xz"): "plain, xz or gzip",
        ("popcount", "--cache", url, "--paths", tmp_path / "bad.gz"): "plain, xz or gzip",
        ("popcount", "--cache", url, "--paths", tmp_path / "missing"): "No such file",
        ("popcount", "--cache", "ftp://x/", "--paths", "-"): "not an http://, https:// or file://",
    }
    for args, message in cases.items():
        status, out, err = run(*args, input=HELLO)
        assert (status, out) == (2, ""), (args, err)
        assert message in err and err.count("\n") == 1, (args, err)
