# group-layers-registry, the registry server (group_layers/registry), as a
# Nix package: the Python program with aiohttp, wrapped so that by default it
# builds images with this toolkit's `nixery-build-image` and finds nix-build
# and git (for git package sources) on PATH. Called by ./default.nix, which
# gives it the project's source and the wrapper.
{
  pkgs,
  source,
  version,
  wrapper,
}:

let
  server = pkgs.python3Packages.buildPythonApplication {
    pname = "group-layers-registry-unwrapped";
    inherit version;
    src = source;
    pyproject = true;
    build-system = [ pkgs.python3Packages.setuptools ];
    dependencies = with pkgs.python3Packages; [
      networkx
      jsonschema
      aiohttp
    ];
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
