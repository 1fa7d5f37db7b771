# Fixture stdenv setup (a tiny stand-in for nixpkgs' pkgs/stdenv/generic/setup.sh).
# Sourced by default-builder.sh after the structured-attrs file (if any).
set -eu
set -o pipefail

# ---- structured attrs, as nixpkgs' setup.sh handles them ------------------
if [[ -n "${NIX_ATTRS_SH_FILE:-}" || -e "${NIX_BUILD_TOP:-.}/.attrs.sh" ]]; then
    # Older Nix (and nix#6736) may point these to missing paths; fall back
    # to the files Nix writes into the build directory.
    if ! [[ -e "${NIX_ATTRS_JSON_FILE:-}" ]]; then
        export NIX_ATTRS_JSON_FILE="$NIX_BUILD_TOP/.attrs.json"
    fi
    if ! [[ -e "${NIX_ATTRS_SH_FILE:-}" ]]; then
        export NIX_ATTRS_SH_FILE="$NIX_BUILD_TOP/.attrs.sh"
    fi
    __structuredAttrs=1
    # $out, $dev, ... as stdenv exports them.
    for outputName in "${!outputs[@]}"; do
        export "$outputName=${outputs[$outputName]}"
    done
    # nixpkgs' mkDerivation puts `env = { ... }` into the environment.
    if declare -p env &>/dev/null && [[ "$(declare -p env)" == "declare -A"* ]]; then
        for __envName in "${!env[@]}"; do
            export "$__envName=${env[$__envName]}"
        done
        unset __envName
    fi
else
    __structuredAttrs=
    : "${outputs:=out}"
fi

# ---- environment ------------------------------------------------------------
# Builders start with an empty PATH; this fixture's tools live on the host.
__hostPath=/usr/bin:/bin
__inputPath=
for __dep in ${nativeBuildInputs[@]:-} ${buildInputs[@]:-} ${propagatedBuildInputs[@]:-} \
             ${propagatedNativeBuildInputs[@]:-}; do
    if [[ -d "$__dep/bin" ]]; then __inputPath="${__inputPath:+$__inputPath:}$__dep/bin"; fi
done
export PATH="${__inputPath:+$__inputPath:}$__hostPath"
unset __dep __inputPath
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
export NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"
export SHELL="$BASH"
export CONFIG_SHELL="$SHELL"

__outputNames() {
    if [[ -n "$__structuredAttrs" ]]; then echo "${!outputs[@]}"; else echo $outputs; fi
}

# ---- hooks / phases ---------------------------------------------------------
runHook() {
    local hookName="$1"; shift
    local hooksArray="${hookName}Hooks"
    if declare -p "$hooksArray" &>/dev/null; then
        local -n __hooks="$hooksArray"
        local h
        for h in "${__hooks[@]}"; do eval "$h" "$@"; done
    fi
    if [[ -n "${!hookName:-}" ]]; then eval "${!hookName}"; fi
    return 0
}

patchShebangs() {
    # Rewrite `#!/usr/bin/env prog` / `#!/abs/prog` to a store path when
    # `prog` is found in a /nix/store entry of PATH; host paths stay as is.
    local f
    find "$@" -type f -perm -0100 2>/dev/null | while read -r f; do
        local first; first="$(head -c 256 "$f" | head -n1 || true)"
        [[ "$first" == "#!"* ]] || continue
        local interp="${first#\#!}"; interp="${interp# }"
        local cmd="${interp%% *}" args=""
        [[ "$interp" == *" "* ]] && args=" ${interp#* }"
        if [[ "$cmd" == */env && -n "$args" ]]; then
            cmd="${args# }"; cmd="${cmd%% *}"; args="${args# $cmd}"
        fi
        local new; new="$(PATH="${HOST_PATH:-$PATH}" command -v "$(basename "$cmd")" || true)"
        if [[ "$new" == "$NIX_STORE"/* && "$new" != "$cmd" ]]; then
            sed -i "1s|.*|#!$new$args|" "$f"
        fi
    done
}

unpackPhase() {
    runHook preUnpack
    if [[ -z "${src:-}${srcs:-}" ]]; then
        echo "fixture stdenv: no src to unpack" >&2; return 1
    fi
    local s
    for s in ${srcs:-$src}; do
        if [[ -d "$s" ]]; then
            cp -r --no-preserve=mode "$s" "$(stripHash "$s")"
            sourceRoot="${sourceRoot:-$(stripHash "$s")}"
        else
            mkdir -p "$TMPDIR/unpack"; (cd "$TMPDIR/unpack" && case "$s" in
                *.zip|*.whl) python3 -m zipfile -e "$s" . ;;
                *) tar xf "$s" ;;
            esac)
            if [[ -z "${sourceRoot:-}" ]]; then
                local entries=("$TMPDIR"/unpack/*)
                if [[ ${#entries[@]} == 1 && -d "${entries[0]}" ]]; then
                    mv "${entries[0]}" .; sourceRoot="$(basename "${entries[0]}")"
                else
                    mv "$TMPDIR/unpack" source; sourceRoot=source
                fi
            fi
        fi
    done
    chmod -R u+w -- "$sourceRoot"
    runHook postUnpack
}

stripHash() {
    local base; base="$(basename "$1")"
    if [[ "$base" =~ ^[a-z0-9]{32}- ]]; then echo "${base:33}"; else echo "$base"; fi
}

patchPhase() {
    runHook prePatch
    local p
    for p in ${patches[@]:-}; do patch -p1 < "$p"; done
    runHook postPatch
}
configurePhase() { runHook preConfigure; runHook postConfigure; }
buildPhase() {
    runHook preBuild
    if [[ -f Makefile || -f makefile ]]; then make ${makeFlags[@]:-} ${buildFlags[@]:-}; fi
    runHook postBuild
}
checkPhase() { runHook preCheck; runHook postCheck; }
installPhase() {
    runHook preInstall
    if [[ -f Makefile || -f makefile ]]; then make install PREFIX="$out" ${installFlags[@]:-}; fi
    runHook postInstall
}
fixupPhase() {
    runHook preFixup
    local o
    for o in $(__outputNames); do
        local p="${!o}"
        [[ -e "$p" ]] || continue
        if [[ -z "${dontPatchShebangs:-}" ]]; then patchShebangs "$p"; fi
        if [[ -n "${propagatedBuildInputs[*]:-}" && "$o" == out ]]; then
            mkdir -p "$p/nix-support"
            echo ${propagatedBuildInputs[@]} > "$p/nix-support/propagated-build-inputs"
        fi
    done
    runHook postFixup
}
installCheckPhase() { runHook preInstallCheck; runHook postInstallCheck; }
distPhase() { runHook preDist; runHook postDist; }

genericBuild() {
    if [[ -f "${buildCommandPath:-}" ]]; then
        source "$buildCommandPath"; return
    fi
    if [[ -n "${buildCommand:-}" ]]; then
        eval "$buildCommand"; return
    fi
    local allPhases
    if [[ -n "${phases[*]:-}" ]]; then
        allPhases="${phases[*]}"
    else
        allPhases="${prePhases[*]:-} unpackPhase patchPhase ${preConfigurePhases[*]:-} configurePhase ${preBuildPhases[*]:-} buildPhase checkPhase ${preInstallPhases[*]:-} installPhase ${preFixupPhases[*]:-} fixupPhase installCheckPhase ${preDistPhases[*]:-} distPhase ${postPhases[*]:-}"
    fi
    local curPhase
    for curPhase in $allPhases; do
        case "$curPhase" in
            unpackPhase) [[ -n "${dontUnpack:-}" ]] && continue ;;
            patchPhase) [[ -n "${dontPatch:-}" ]] && continue ;;
            configurePhase) [[ -n "${dontConfigure:-}" ]] && continue ;;
            buildPhase) [[ -n "${dontBuild:-}" ]] && continue ;;
            checkPhase) [[ -z "${doCheck:-}" ]] && continue ;;
            installPhase) [[ -n "${dontInstall:-}" ]] && continue ;;
            fixupPhase) [[ -n "${dontFixup:-}" ]] && continue ;;
            installCheckPhase) [[ -z "${doInstallCheck:-}" ]] && continue ;;
            distPhase) [[ -z "${doDist:-}" ]] && continue ;;
        esac
        echo "Running phase: $curPhase" >&2
        # A phase given as an attribute (string) overrides the function.
        if [[ -n "${!curPhase:-}" ]]; then eval "${!curPhase}"; else "$curPhase"; fi
        if [[ "$curPhase" == unpackPhase && -n "${sourceRoot:-}" ]]; then cd "$sourceRoot"; fi
    done
}

# ---- setup hooks of inputs (nixpkgs: $dep/nix-support/setup-hook) ----------
for __dep in ${nativeBuildInputs[@]:-} ${buildInputs[@]:-}; do
    if [[ -f "$__dep/nix-support/setup-hook" ]]; then source "$__dep/nix-support/setup-hook"; fi
done
unset __dep
runHook postHook
