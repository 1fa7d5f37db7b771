# group-layers-registry, the registry server (group_layers/registry), as a
# Nix package: the Python program with aiohttp, wrapped so that by default it
# builds images with this toolkit's `nixery-build-image` and finds nix-build
# and git (for git package sources) on PATH. Called by ./default.nix, which
# gives it the project's Python package builder and the wrapper.
{
  pkgs,
  # build-image/default.nix's builder of this project's Python package.
  pythonApplication,
  # nixery-build-image.
  wrapper,
}:

let
  server = pythonApplication {
    pname = "group-layers-registry-unwrapped";
    extraDependencies = [ pkgs.python3Packages.aiohttp ];
    pythonImportsCheck = [ "group_layers.registry.server" ];
  };
in
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
