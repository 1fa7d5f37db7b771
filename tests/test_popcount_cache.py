"""``group-layers popcount --cache`` against a real binary cache made by Nix.

``nix copy --to file://DIR`` writes the fixture packages' closures as Nix
writes any binary cache (nix-cache-info, narinfos, NARs); the folder is then
read as ``file://`` and over HTTP from a server on 127.0.0.1 that injects
faults on demand (benchmarks/narinfo_server.py).  The reference for every
answer is ``popcount`` over ``nix path-info --json --recursive`` of the same
roots.
"""

import gzip
import lzma
import shutil
import subprocess
import sys

import pytest

from benchmarks.narinfo_server import serve
from nix_support import NIX_OPTIONS, REPO, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

NIX = ["nix", "--extra-experimental-features", "nix-command", *NIX_OPTIONS]
# Roots that share parts of their closures: hello refers to libgreeting and
# bash; requests and urllib3 to python3.
ATTRS = ["hello", "bash", "libgreeting", "python3Packages.requests", "python3Packages.urllib3",
         "bashInteractive"]


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, cwd=REPO, env=nix_environment(), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def popcount(*args, input=None):
    """``group-layers popcount ARGS`` -> (status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "group_layers", "popcount", *map(str, args)],
                          cwd=REPO, input=input, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def roots():
    built = _run(["nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>",
                  *[a for attr in ATTRS for a in ("-A", attr)]]).split()
    assert len(built) == len(ATTRS)
    return dict(zip(ATTRS, built))


@pytest.fixture(scope="module")
def cache(roots, tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary-cache")
    _run([*NIX, "copy", "--to", f"file://{folder}", *roots.values()])
    assert (folder / "nix-cache-info").is_file()
    return folder


@pytest.fixture(scope="module")
def expected(roots, tmp_path_factory):
    """popcount over one `nix path-info` graph per root: every root counted."""
    folder = tmp_path_factory.mktemp("graphs")
    graphs = []
    for attr, path in roots.items():
        graphs.append(folder / f"{attr}.json")
        graphs[-1].write_text(_run([*NIX, "path-info", "--json", "--recursive", path]))
    status, out, err = popcount(*graphs)
    assert status == 0, err
    return out


@pytest.fixture
def paths_file(roots, tmp_path):
    file = tmp_path / "store-paths"
    file.write_text("".join(p + "\n" for p in roots.values()))
    return file


@pytest.fixture
def server(cache):
    with serve(cache) as server:
        yield server


def test_cache_over_http_and_file_matches_path_info_piped(roots, cache, tmp_path):
    # The roots nothing else refers to: exactly the roots of the piped graph.
    tops = [roots[a] for a in ("hello", "python3Packages.requests", "bashInteractive")]
    graph = _run([*NIX, "path-info", "--json", "--recursive", *tops])
    status, piped, err = popcount("-", input=graph)
    assert status == 0, err
    (tmp_path / "tops").write_text("\n".join(tops))
    with serve(cache) as server:
        status, http, err = popcount("--cache", server.url, "--paths", tmp_path / "tops")
    assert status == 0, err
    status, file, err = popcount("--cache", f"file://{cache}", "--paths", tmp_path / "tops")
    assert status == 0, err
    assert http == piped and file == piped


def test_every_root_counts_as_popcount_graphs_does(cache, server, paths_file, expected, tmp_path):
    assert '"bash-5.2.15": 2' in expected and '"python3-3.11.2": 2' in expected
    compressed = {".xz": lzma.compress, ".gz": gzip.compress}
    for suffix, compress in compressed.items():
        file = tmp_path / f"store-paths{suffix}"
        file.write_bytes(compress(paths_file.read_bytes()))
        status, out, err = popcount("--cache", server.url, "--paths", file, "--jobs", 3)
        assert (status, out) == (0, expected), err
    status, out, err = popcount("--cache", f"file://{cache}/", "--paths", "-",
                                input=paths_file.read_text())
    assert (status, out) == (0, expected), err
    assert f"{len(ATTRS)} of {len(ATTRS)} roots counted" in err


def test_retries_5xx_timeouts_and_truncated_bodies(roots, server, paths_file, expected, tmp_path):
    narinfo = {attr: path.split("/")[-1][:32] + ".narinfo" for attr, path in roots.items()}
    server.faults.update({
        "nix-cache-info": [500, "truncated"],
        narinfo["hello"]: ["slow", 500],
        narinfo["libgreeting"]: ["truncated", "truncated"],
    })
    out_file = tmp_path / "popularity.json"
    status, _, err = popcount("--cache", server.url, "--paths", paths_file, "--timeout", 0.5,
                              "--out", out_file)
    assert status == 0, err
    assert out_file.read_text() == expected
    assert server.requests["nix-cache-info"] == 3
    assert server.requests[narinfo["hello"]] == 3
    assert server.requests[narinfo["libgreeting"]] == 3
    assert all(not faults for faults in server.faults.values())


def test_jobs_bounds_the_requests_in_flight_on_keep_alive_connections(cache, paths_file, expected):
    with serve(cache, delay=0.05) as server:
        status, out, err = popcount("--cache", server.url, "--paths", paths_file, "--jobs", 2)
    assert (status, out) == (0, expected), err
    assert server.most_in_flight == 2
    # 13 requests, on no more connections than requests in flight.
    assert sum(server.requests.values()) > 10 and len(server.connections) <= 2


def test_roots_the_cache_lacks_are_skipped_and_reported(roots, server, paths_file, tmp_path):
    unknown = roots["bash"].replace(roots["bash"].split("/")[-1][:32], "0" * 32)
    with_unknown = tmp_path / "with-unknown"
    with_unknown.write_text(paths_file.read_text() + unknown + "\n")
    # bashInteractive's narinfo answers 404 too.
    server.faults[roots["bashInteractive"].split("/")[-1][:32] + ".narinfo"] = [404]
    status, out, err = popcount("--cache", server.url, "--paths", with_unknown)
    assert status == 0, err
    assert f"{len(ATTRS) - 1} of {len(ATTRS) + 1} roots counted, 2 skipped: not in the cache" in err
    assert "bash-interactive" not in out and '"bash-5.2.15": 2' in out


def _fails(status, err, url):
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"group-layers: {url}")


def test_a_cache_that_keeps_failing_is_exit_2_naming_the_url(server, paths_file, tmp_path):
    server.faults["nix-cache-info"] = [500] * 5
    out_file = tmp_path / "popularity.json"
    status, _, err = popcount("--cache", server.url, "--paths", paths_file, "--out", out_file)
    _fails(status, err, f"{server.url}/nix-cache-info")
    assert "HTTP 500" in err and "after 5 tries" in err
    assert not out_file.exists()


def test_an_unreachable_cache_is_exit_2_naming_the_url(paths_file):
    with serve(paths_file.parent) as server:
        url = server.url  # closed when the block ends: nothing listens there
    status, _, err = popcount("--cache", url, "--paths", paths_file)
    _fails(status, err, f"{url}/nix-cache-info")


def test_a_malformed_narinfo_is_exit_2_naming_it(roots, server, paths_file):
    name = roots["libgreeting"].split("/")[-1][:32] + ".narinfo"
    server.faults[name] = ["garbage"]
    status, _, err = popcount("--cache", server.url, "--paths", paths_file)
    _fails(status, err, f"{server.url}/{name}")
    assert "malformed narinfo" in err


def test_a_cache_for_another_store_dir_is_exit_2(cache, paths_file, tmp_path):
    other = tmp_path / "other-cache"
    shutil.copytree(cache, other)
    (other / "nix-cache-info").write_text("StoreDir: /gnu/store\nWantMassQuery: 1\nPriority: 30\n")
    status, _, err = popcount("--cache", f"file://{other}", "--paths", paths_file)
    _fails(status, err, f"file://{other}/nix-cache-info")
    assert "/gnu/store" in err


def test_a_missing_reference_is_exit_2(roots, server, paths_file):
    server.faults[roots["libgreeting"].split("/")[-1][:32] + ".narinfo"] = [404]
    status, _, err = popcount("--cache", server.url, "--paths", paths_file)
    _fails(status, err, server.url)
    assert f"its reference {roots['libgreeting']} is not" in err


def test_state_makes_a_rerun_fetch_only_new_paths(roots, server, paths_file, expected, tmp_path):
    state = tmp_path / "state"
    first = tmp_path / "first"
    first.write_text(roots["hello"] + "\n")
    assert popcount("--cache", server.url, "--paths", first, "--state", state)[0] == 0
    hello_closure = sum(server.requests.values()) - 1  # hello, libgreeting, bash
    assert hello_closure == 3
    server.requests.clear()
    status, out, err = popcount("--cache", server.url, "--paths", paths_file, "--state", state)
    assert (status, out) == (0, expected), err
    assert "3 from --state" in err
    assert not any(server.requests[p.split("/")[-1][:32] + ".narinfo"]
                   for p in (roots["hello"], roots["libgreeting"], roots["bash"]))
    server.requests.clear()
    status, out, err = popcount("--cache", server.url, "--paths", paths_file, "--state", state)
    assert (status, out) == (0, expected), err
    assert dict(server.requests) == {"nix-cache-info": 1}


def test_a_long_run_shows_its_progress(cache, paths_file, expected, monkeypatch, capsys):
    from group_layers import cli, popcount_cache

    monkeypatch.setattr(popcount_cache, "PROGRESS_EVERY", 0.0)  # every answer counts as long
    with serve(cache, delay=0.02) as server:
        status = cli.main(["popcount", "--cache", server.url, "--paths", str(paths_file), "--jobs", "2"])
    out, err = capsys.readouterr()
    assert (status, out) == (0, expected)
    progress = [line for line in err.splitlines() if "narinfos read," in line]
    assert len(progress) >= 5
    assert "queued" in progress[0] and "in flight" in progress[0] and progress[-1].endswith("/s")
