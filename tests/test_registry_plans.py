"""The registry server's layer lock (group_layers/registry/plans.py): the
last plan of each image name, kept in the storage, given to the next build
of that name; shared by replicas; off with --no-layer-lock.

The package source is a folder outside the store (unpinned: every request
builds), changed between requests as a package-set update would be."""

import hashlib
import json
import shutil
import uuid

import pytest

from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)

from registry_support import Server, write_package_set

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

DOCKER = "application/vnd.docker.distribution.manifest.v2+json"


def pull(server, name):
    status, _, body = server.request("GET", f"/v2/{name}/manifests/latest", {"Accept": DOCKER})
    assert status == 200, body
    return [layer["digest"] for layer in json.loads(body)["layers"]]


def plan_of(storage, name):
    path = storage / "plans" / f"{hashlib.sha256(name.encode()).hexdigest()}.lock"
    return json.loads(path.read_text()) if path.exists() else None


def contents(plan):
    (layers,) = plan["images"].values()
    return {p for layer in layers for p in layer["contents"]}


def test_the_second_build_of_a_name_starts_from_the_first_plan(tmp_path, env, fixture, build_command):
    folder, storage = tmp_path / "pkgs", tmp_path / "storage"
    write_package_set(folder, uuid.uuid4().hex, fixture)
    server = Server(storage, tmp_path / "a.log", env, "--pkgs-path", folder, "--build-command",
                    build_command, "--max-layers", "3", "--timeout", "300")
    try:
        first = pull(server, "hello")
        plan = plan_of(storage, "hello")
        assert plan is not None and plan["version"] == 1
        assert any(p.endswith("-hello-2.12.1") for p in contents(plan))
        write_package_set(folder, uuid.uuid4().hex, fixture)  # libgreeting, hence hello, rebuilt
        second = pull(server, "hello")
    finally:
        assert server.stop() == 0
    builds = [e for e in server.events("build") if e["result"] == "ok"]
    assert [b["layer_lock"] for b in builds] == [False, True]
    assert contents(plan_of(storage, "hello")) != contents(plan)  # the new plan replaced it
    assert first != second
    # a replica on the same storage plans from it too
    replica = Server(storage, tmp_path / "b.log", env, "--pkgs-path", folder, "--build-command",
                     build_command, "--max-layers", "3", "--timeout", "300")
    try:
        assert pull(replica, "hello") == second
    finally:
        assert replica.stop() == 0
    assert [e["layer_lock"] for e in replica.events("build")] == [True]


def test_no_layer_lock_plans_from_scratch(tmp_path, env, fixture, build_command):
    folder, storage = tmp_path / "pkgs", tmp_path / "storage"
    write_package_set(folder, uuid.uuid4().hex, fixture)
    server = Server(storage, tmp_path / "a.log", env, "--pkgs-path", folder, "--build-command",
                    build_command, "--no-layer-lock", "--timeout", "300")
    try:
        pull(server, "hello")
        pull(server, "hello")
    finally:
        assert server.stop() == 0
    assert [e["layer_lock"] for e in server.events("build")] == [False, False]
    assert plan_of(storage, "hello") is None
