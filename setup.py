"""Packaging for group-layers: ``pip install .`` gives the ``group-layers`` command."""

import re
from pathlib import Path

from setuptools import setup

VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (Path(__file__).parent / "group_layers" / "__init__.py").read_text(),
    re.M,
).group(1)

setup(
    name="group-layers",
    version=VERSION,
    description="Decide which Nix store paths go into which container image layer",
    packages=["group_layers", "group_layers.strategies", "group_layers.registry"],
    package_data={"group_layers": ["schemas/*.json"]},
    entry_points={"console_scripts": [
        "group-layers = group_layers.cli:run",
        "group-layers-registry = group_layers.registry.server:main",
    ]},
    install_requires=["networkx", "jsonschema"],
    license="Apache-2.0",
    # `pip install .[cache]`: `popcount --cache` over http(s); `.[registry]`:
    # the registry server (group-layers-registry). The engine never imports it.
    extras_require={"cache": ["aiohttp>=3.8"], "registry": ["aiohttp>=3.8"]},
    python_requires=">=3.10",
)
