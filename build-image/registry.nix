# group-layers-registry, the registry server (group_layers/registry), as a
# Nix package: the Python program with aiohttp, wrapped so that by default it
# builds images with this toolkit's `nixery-build-image` and finds nix-build
# and git (for git package sources) on PATH. Called by ./default.nix, which
# gives it the Python program and the wrapper.
{
  pkgs,
  # The project's Python package with aiohttp (default.nix's
  # groupLayersWithCache): its bin/group-layers-registry is the server. One
  # package, named as the Python distribution is (`group-layers`), which
  # nixpkgs' pythonMetadataCheckHook requires of a pname.
  server,
  # nixery-build-image.
  wrapper,
}:

pkgs.writeShellScriptBin "group-layers-registry" ''
  export PATH=${
    pkgs.lib.makeBinPath [
      pkgs.nix
      pkgs.git
    ]
  }''${PATH:+:$PATH}
  export GROUP_LAYERS_BUILD_COMMAND="''${GROUP_LAYERS_BUILD_COMMAND:-${wrapper}/bin/nixery-build-image}"
  exec ${server}/bin/group-layers-registry "$@"
''
// {
  inherit server;
  meta = {
    description = "A registry that builds container images of Nix packages on demand, as Nixery does";
    mainProgram = "group-layers-registry";
  };
}
