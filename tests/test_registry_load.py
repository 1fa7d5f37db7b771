"""benchmarks/registry_load.py and registry_flood.py, small and bounded: a
cold build, then a few clients against the registry, two replicas of it,
docker-registry and the static servers, each measurement stopped by its
request limit or time limit; a small flood of unknown names during a pull."""

import json
import shutil
import subprocess
import sys

import pytest

from nix_support import REPO

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")


def test_the_load_benchmark_runs_bounded_and_reports_every_server(tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.registry_load", "--clients", "3", "--seconds", "2",
                           "--max-requests", "40", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["cold_ttfb_s"] > 0 and report["cold_pull_s"] >= report["cold_ttfb_s"]
    seen = {(r["what"], r["server"]) for r in report["rows"]}
    assert seen == {(w, s) for w in ("manifest", "blob")
                    for s in ("registry", "registry, 2 replicas", "docker-registry", "http.server", "aiohttp static")}
    for row in report["rows"]:
        assert 0 < row["requests"] <= 40
        assert row["p50_ms"] <= row["p99_ms"]
    assert "| blob (" in proc.stdout and "first byte of the manifest" in proc.stdout
    assert "x docker-registry's" in proc.stdout


def test_the_flood_benchmark_runs_small_and_nothing_is_evaluated_twice(tmp_path):
    out = tmp_path / "flood.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.registry_flood", "--clients", "4", "--names", "30",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone, defaults, unlimited, again = json.loads(out.read_text())
    assert alone["row"] == "no flood" and "requests" not in alone and "requests" not in again
    for row in (defaults, unlimited):
        assert row["requests"] == 60 and sum(row["statuses"].values()) == 60
        assert set(row["statuses"]) <= {"404", "429"}
        assert row["most_per_name"] == 1 and 0 < row["evaluations"] <= 30
    # The default rate (20 builds a minute, a minute's worth at once) refused
    # the rest of the 30 names; without it, only the in-flight bound refuses.
    assert defaults["statuses"].get("429", 0) > 0 and defaults["evaluations"] < 30
    assert "| no rate limit |" in proc.stdout
