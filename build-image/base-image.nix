# Base images: the `fromImage` argument of build-image.nix, and `pullImage`
# to fetch one from a registry.
#
# fromImage is a `docker load` archive (an `image` built here, `podman save`,
# `docker save`), an OCI image layout folder (umoci, `skopeo copy ...
# oci:DIR`) or what `pullImage` fetches; a path, a derivation, or an
# absolute file name as a string (as --argstr gives it). One derivation
# reads it (./imagetools/base.py): its layers come first in the image,
# unchanged (the registry manifest names the same blobs, with the same
# digests: a registry or a client that has the base has them), and its
# config is merged with ours (./imagetools/config.py states the rule). Its
# layers count against maxLayers: the engine gets what is left.
#
# pullImage { imageName; imageDigest; hash; os ? "linux"; arch ? <this
# system's>; tlsVerify ? true; } is a fixed-output derivation running
# `skopeo copy docker://<imageName>@<imageDigest> dir:$out`: the image by its
# digest (a multi-platform image's entry for os/arch), as nix2container's
# and dockerTools' pullImage do; its hash is that of the folder (nix-hash),
# given as `hash` in SRI form (a first build with hash = "" tells it).
{ lib, pkgs }:

rec {
  # The container architecture (Go's name) of a Nix system.
  goArch =
    system:
    let
      cpu = builtins.head (lib.splitString "-" system);
      names = {
        x86_64 = "amd64";
        i686 = "386";
        aarch64 = "arm64";
        armv6l = "arm";
        armv7l = "arm";
        powerpc64le = "ppc64le";
        riscv64 = "riscv64";
        s390x = "s390x";
        loongarch64 = "loong64";
      };
    in
    names.${cpu} or (throw "group-layers: no container architecture known for system ${system}");

  # fromImage as { registry; stream; config; count; } (folders of layers and
  # files of the reading derivation), or null; build-image.nix's tools.
  read =
    {
      tools,
      step,
      python,
    }:
    fromImage:
    let
      source =
        if fromImage == null then
          null
        else if lib.isDerivation fromImage || builtins.isPath fromImage then
          fromImage
        else if builtins.isString fromImage && lib.hasPrefix "/" fromImage then
          (if builtins.hasContext fromImage then fromImage else builtins.path { path = /. + fromImage; name = "base-image-source"; })
        else
          throw "group-layers: fromImage is ${builtins.toJSON fromImage}, it must be a docker load archive, an OCI layout or a pullImage: a path, a derivation or an absolute file name";
      out = step "base-image" [ tools.zstd ] "${python} base ${source} \"$out\"" { };
    in
    if source == null then
      null
    else
      {
        registry = "${out}/registry";
        stream = "${out}/stream";
        config = "${out}/config.json";
        count = "${out}/count";
      };

  # Shell text setting $budget, the engine's layers: layerBudget less the
  # base's; an error when none are left.
  budgetCommand =
    base: maxLayers: layerBudget:
    "budget=${toString layerBudget}\n"
    + lib.optionalString (base != null) ''
      budget=$(( budget - $(cat ${base.count}) ))
      if [ "$budget" -lt 1 ]; then
        echo "group-layers: fromImage has $(cat ${base.count}) layers: maxLayers = ${toString maxLayers} leaves none for the contents (one is the customisation layer's)" >&2
        exit 1
      fi
    '';

  pullImage =
    {
      imageName,
      imageDigest,
      hash ? "",
      os ? "linux",
      arch ? goArch pkgs.stdenv.hostPlatform.system,
      tlsVerify ? true,
    }:
    pkgs.runCommand "pulled-${baseNameOf (builtins.replaceStrings [ ":" ] [ "-" ] imageName)}"
      ({
        nativeBuildInputs = [ pkgs.skopeo ];
        outputHashMode = "recursive";
        outputHashAlgo = if hash == "" then "sha256" else null;
        outputHash = hash;
        impureEnvVars = lib.fetchers.proxyImpureEnvVars or [ ];
      }
      // lib.optionalAttrs tlsVerify { SSL_CERT_FILE = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"; })
      ''
        # No credentials: the sandbox has none (a public image, or a
        # registry that lets the build's address in).
        export HOME=$PWD XDG_RUNTIME_DIR=$PWD
        echo '{}' > auth.json
        skopeo --override-os ${os} --override-arch ${arch} --insecure-policy copy \
          --src-tls-verify=${lib.boolToString tlsVerify} --src-authfile auth.json \
          ${lib.escapeShellArg "docker://${imageName}@${imageDigest}"} "dir:$out"
      '';
}
