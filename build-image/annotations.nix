# The `annotations` argument of build-image.nix, checked (check-args.nix calls
# `check`): the standard org.opencontainers.image.* annotations by their short
# names, as an attribute set or a JSON object,
#
#   { title; version; source; revision; description; licenses; created; }
#
# all optional strings. They become labels of the image config
# (config.Labels given explicitly win, key by key) and, in an OCI manifest
# (compression = "zstd"), the manifest's annotations. `created` (RFC 3339)
# also sets the config's `created`, which otherwise stays fixed at
# 1970-01-01T00:00:01Z so that the image is reproducible.
{ lib }:

let
  known = [ "title" "version" "source" "revision" "description" "licenses" "created" ];
  rfc3339 = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})";
in
{
  # The labels, by their full names ({ } when none).
  check =
    ctx: annotations:
    let
      inherit (ctx) fail show;
      given = ctx.fromJSONArg fail "annotations" ''{"title":"web","version":"1.0"}'' annotations;
      unknown = builtins.filter (k: !(lib.elem k known)) (builtins.attrNames given);
      notString = builtins.filter (k: !builtins.isString given.${k}) (builtins.attrNames given);
    in
    if !builtins.isAttrs given then
      fail "annotations is ${show given}, it must be an object of strings"
    else if unknown != [ ] then
      fail "annotations has unknown key ${builtins.toJSON (builtins.head unknown)}; known keys: ${lib.concatStringsSep ", " known}"
    else if notString != [ ] then
      fail "annotations.${builtins.head notString} is ${show given.${builtins.head notString}}, it must be a string"
    else if given ? created && builtins.match rfc3339 given.created == null then
      fail "annotations.created is ${show given.created}, it must be an RFC 3339 time such as 2024-05-01T12:00:00Z"
    else
      lib.mapAttrs' (k: v: lib.nameValuePair "org.opencontainers.image.${k}" v) given;
}
