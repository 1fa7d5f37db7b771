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
    packages=["group_layers", "group_layers.strategies"],
    package_data={"group_layers": ["schemas/*.json"]},
    entry_points={"console_scripts": ["group-layers = group_layers.cli:main"]},
    install_requires=["networkx", "jsonschema"],
    # `popcount --cache` over http(s); the engine itself never imports it.
    extras_require={"cache": ["aiohttp"]},
    python_requires=">=3.10",
)
