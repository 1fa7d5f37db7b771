"""group-layers: decide which Nix store paths go into which container image layer."""

__version__ = "0.1.0"
