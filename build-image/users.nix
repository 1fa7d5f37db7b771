# The image's user accounts: the `users` and `user` arguments of
# build-image.nix, checked (check-args.nix calls `check`) and turned into the
# files of the customisation layer (build-image.nix calls `layer`):
#
#   etc/passwd, etc/group   root, then each user and its group;
#   etc/shadow              every account locked ("!": no password logs in);
#   home/<name>             each home folder (mode 0755), owned by the user:
#                           the one part of the layer not owned by `uid`:`gid`
#                           (see `owners` and ../layer-tar.sh);
#   tmp                     mode 1777, as every Unix expects.
#
# `users` is a list (or a JSON string of one) of
#   { name; uid; gid ? uid; group ? name; home ? "/home/<name>";
#     shell ? "/bin/sh"; description ? ""; }
# and `user = "app"` is short for users = [ { name = "app"; uid = 1000; } ].
# Two users may share a group by naming it with the same gid. The image's
# config.User defaults to the first user, as "uid:gid": numeric, so that a
# runtime can tell it is not root without reading /etc/passwd (Kubernetes'
# runAsNonRoot).
{ lib }:

let
  inherit (builtins) isString match;

  # useradd's default NAME_REGEX, at most 32 characters (utmp's limit).
  namePattern = "[a-z_][a-z0-9_-]{0,30}[$]?";
  # An absolute path without ":" (the files' separator), newlines or "..".
  pathOk = p: isString p && match "/[^:\n]*" p != null && match "(.*/)?\\.\\.(/.*)?" p == null;
  known = [ "name" "uid" "gid" "group" "home" "shell" "description" ];
in
rec {
  # The checked accounts, with every default filled in; `ctx` gives
  # check-args.nix's fail, show, intArg and fromJSONArg.
  check =
    ctx: users: user:
    let
      inherit (ctx) fail show;
      given = ctx.fromJSONArg fail "users" ''[{"name":"app","uid":1000}]'' users;
      list =
        if user != null && given != [ ] then
          fail "users and user are both given: use one"
        else if user != null then
          (if isString user then [ { name = user; uid = 1000; } ] else fail "user is ${show user}, it must be a user name (a string)")
        else if builtins.isList given && builtins.all builtins.isAttrs given then
          given
        else
          fail "users is ${show given}, it must be a list of { name, uid, ... } objects";
      one =
        i: u:
        let
          at = "users[${toString i}]";
          unknown = builtins.filter (k: !(lib.elem k known)) (builtins.attrNames u);
          name = u.name or (fail "${at} has no name");
          uid = ctx.intArg fail "${at}.uid" 1 4294967294 (u.uid or (fail "${at} (${show name}) has no uid"));
          gid = ctx.intArg fail "${at}.gid" 1 4294967294 (u.gid or uid);
          home = u.home or "/home/${name}";
          shell = u.shell or "/bin/sh";
          group = u.group or name;
          description = u.description or "";
        in
        if unknown != [ ] then
          fail "${at} has unknown key ${builtins.toJSON (builtins.head unknown)}; known keys: ${builtins.concatStringsSep ", " known}"
        else if !isString name || match namePattern name == null || name == "root" then
          fail "${at}.name is ${show name}, it must be a user name other than root (${namePattern})"
        else if !isString group || match namePattern group == null || group == "root" then
          fail "${at}.group is ${show group}, it must be a group name other than root (${namePattern})"
        else if !pathOk home || home == "/" then
          fail "${at}.home is ${show home}, it must be an absolute path below / without \":\" or \"..\""
        else if !pathOk shell then
          fail "${at}.shell is ${show shell}, it must be an absolute path without \":\""
        else if !isString description || match "[^:\n]*" description == null then
          fail "${at}.description is ${show description}, it must be a string without \":\" or newlines"
        else
          { inherit name uid gid home shell group description; };
      checked = lib.imap0 one list;
      clash =
        what: key:
        let
          values = map key checked;
        in
        lib.optional (lib.length (lib.unique values) != lib.length values) what;
      groupGids = lib.unique (map (u: "${u.group}:${toString u.gid}") checked);
      clashes =
        clash "name" (u: u.name)
        ++ clash "uid" (u: u.uid)
        ++ clash "home" (u: u.home)
        ++ lib.optional (lib.length (lib.unique (map (u: u.group) checked)) != lib.length groupGids
          || lib.length (lib.unique (map (u: u.gid) checked)) != lib.length groupGids
        ) "group (a group has one gid, a gid one group)";
    in
    if clashes != [ ] then
      fail "users: two users have the same ${builtins.head clashes}: ${show list}"
    else
      checked;

  # config.User for the first user, or null.
  defaultUser = users: if users == [ ] then null else "${toString (builtins.head users).uid}:${toString (builtins.head users).gid}";

  # The folders, relative to /, owned by their user: "UID GID PATH" lines,
  # the owners file of ../layer-tar.sh.
  owners = users: lib.concatMapStrings (u: "${toString u.uid} ${toString u.gid} ${lib.removePrefix "/" u.home}\n") users;

  # The files' text.
  passwd =
    users:
    lib.concatMapStrings (u: "${u.name}:x:${toString u.uid}:${toString u.gid}:${u.description}:${u.home}:${u.shell}\n") (
      [ { name = "root"; uid = 0; gid = 0; description = "root"; home = "/root"; shell = "/bin/sh"; } ] ++ users
    );
  group =
    users:
    let
      groups = lib.unique (map (u: { inherit (u) group gid; }) users);
      members = g: builtins.concatStringsSep "," (map (u: u.name) (builtins.filter (u: u.group == g.group) users));
    in
    "root:x:0:\n" + lib.concatMapStrings (g: "${g.group}:x:${toString g.gid}:${members g}\n") groups;
  shadow = users: lib.concatMapStrings (u: "${u.name}:!:1::::::\n") ([ { name = "root"; } ] ++ users);

  # The customisation layer's part: environment variables for its
  # derivation (the owners file as $ownersTextPath), and the shell commands (run in the layer's folder, before
  # extraCommands) that write the files from them.
  layerEnv =
    users:
    lib.optionalAttrs (users != [ ]) {
      passwdText = passwd users;
      groupText = group users;
      shadowText = shadow users;
      ownersText = owners users;
      passAsFile = [ "ownersText" ];
    };
  commands =
    users:
    lib.optionalString (users != [ ]) ''
      mkdir -p etc tmp
      chmod 1777 tmp
      # The contents' own etc/passwd (a symlink into the store) gives way.
      rm -f etc/passwd etc/group etc/shadow
      printf '%s' "$passwdText" > etc/passwd
      printf '%s' "$groupText" > etc/group
      printf '%s' "$shadowText" > etc/shadow
      chmod 0644 etc/passwd etc/group
      chmod 0640 etc/shadow
      ${lib.concatMapStrings (u: ''
        mkdir -p ${lib.escapeShellArg (lib.removePrefix "/" u.home)}
        chmod 0755 ${lib.escapeShellArg (lib.removePrefix "/" u.home)}
      '') users}
    '';
}
