"""Helpers for the engine tests: hand-made graphs in Nix's shapes, random DAGs
for hypothesis, and running the command."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent


def store_path(key):
    """The store path of package ``key``: ``name`` or ``name#variant`` (the
    same name in several paths, as for two builds of one version)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"/nix/store/{digest[:32]}-{key.split('#')[0]}"


def closure(packages, *keys):
    """The keys of the packages in the closure of ``keys``."""
    seen, stack = set(), list(keys)
    while stack:
        key = stack.pop()
        if key not in seen:
            seen.add(key)
            stack.extend(packages[key][1])
    return seen


def entries(packages):
    """``{key: (narSize, [dep keys])}`` as structured-attrs ``graph`` entries,
    with closure sizes and self-references as Nix writes them."""
    return [
        {
            "path": store_path(name),
            "narSize": size,
            "closureSize": sum(packages[k][0] for k in closure(packages, name)),
            "narHash": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
            "references": sorted({store_path(name), *map(store_path, deps)}),
        }
        for name, (size, deps) in packages.items()
    ]


def attrs_document(packages, roots):
    """The ``.attrs.json`` of ``exportReferencesGraph.graph = roots``."""
    return {
        "builder": "/nix/store/00000000000000000000000000000000-bash/bin/bash",
        "outputs": {"out": "/nix/store/11111111111111111111111111111111-layers"},
        "exportReferencesGraph": {"graph": [store_path(r) for r in roots]},
        "graph": entries(packages),
    }


def path_info_list(packages):
    """``nix path-info --json --recursive`` before Nix 2.19."""
    return entries(packages)


def path_info_object(packages):
    """``nix path-info --json --recursive`` from Nix 2.19 on."""
    return {e.pop("path"): e for e in entries(packages)}


def unreferenced(packages):
    """The names no other package depends on: the roots ``nix path-info`` implies."""
    used = {d for name, (_, deps) in packages.items() for d in deps if d != name}
    return sorted(set(packages) - used)


@st.composite
def dags(draw, max_paths=25):
    """Random runtime graphs: ``(packages, roots, popularity)``.

    Package names repeat in several paths; sizes reach past Nixery's 100 MB
    threshold and counts past its 1000."""
    n = draw(st.integers(0, max_paths))
    name = st.sampled_from(["glibc-2.37", "bash-5.2", "zlib-1.3", "perl-5.36", "gcc-12-lib"])
    keys = [f"{draw(name)}#{i}" for i in range(n)]
    packages = {}
    for i, key in enumerate(keys):
        deps = draw(st.lists(st.sampled_from(keys[:i]), unique=True)) if i else []
        size = draw(st.one_of(st.integers(0, 2000), st.integers(0, 60_000_000)))
        packages[key] = (size, deps)
    extra = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
    roots = sorted(set(unreferenced(packages)) | set(extra))
    popularity = draw(st.dictionaries(name, st.one_of(st.integers(0, 20), st.integers(900, 5000))))
    return packages, roots, popularity


def run(*args, cwd=REPO, stdin=None, env=None, python=()):
    """``python -m group_layers ARGS`` in a subprocess: the completed process
    (``env``: more environment variables; ``python``: options to the
    interpreter, before ``-m``)."""
    env = dict(os.environ, **(env or {}),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, *python, "-m", "group_layers", *map(str, args)],
        cwd=cwd, input=stdin, capture_output=True, text=True, env=env, check=False,
    )


def write_json(path, doc):
    """Write ``doc`` to ``path`` as JSON; return ``path``."""
    path.write_text(json.dumps(doc))
    return path


def assert_rejected(process, out, file, pointer, words):
    """Bad input refused: exit 2, one line naming ``file`` and ``pointer``
    with ``words`` in it, no traceback, nothing written to ``out``."""
    assert process.returncode == 2, process.stderr
    assert process.stderr.count("\n") == 1, process.stderr
    line = process.stderr.rstrip("\n")
    prefix = f"group-layers: {file}: {pointer}" if pointer else f"group-layers: {file}: "
    assert line.startswith(prefix), line
    assert words in line
    assert "Traceback" not in process.stderr
    assert not out.exists()
    assert not list(out.parent.glob(".group-layers-*"))
