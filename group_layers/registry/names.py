"""Image names, tags and digests, as the distribution spec defines them, and
how an image name becomes a list of packages (Nixery's rules).

A repository name is components ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*``
joined by ``/``, at most 255 characters; anything else (upper case, ``..``,
empty components, percent-escapes) is refused before anything touches the
storage or Nix.  Each component is a package attribute (dotted names select
nested attributes, and a lower-case name finds a camelCase one: the Nix side
does the lookup); ``shell`` stands for an interactive base.  The list is
deduplicated and sorted, so ``git/shell`` and ``shell/git`` are one image.
"""

import re

NAME_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
NAME_MAX = 255
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Only sha256 is produced and accepted.
DIGEST = re.compile(r"sha256:([a-f0-9]{64})")
COMMIT = re.compile(r"[0-9a-f]{40}")

# Nixery's `shell` meta-package, lower-cased as image names are (the Nix
# side finds bashInteractive from "bashinteractive"). Those the package set
# does not have are left out (see builds.Builder).
SHELL = "shell"
SHELL_PACKAGES = ("bashinteractive", "cacert", "coreutils", "iana-etc", "moreutils", "nano")


class InvalidName(ValueError):
    """A repository name, tag or digest that is not valid."""


def check_name(name):
    if len(name) > NAME_MAX:
        raise InvalidName(f"repository name longer than {NAME_MAX} characters")
    if not all(NAME_COMPONENT.fullmatch(c) for c in name.split("/")):
        raise InvalidName("invalid repository name")
    return name


def parse_digest(text):
    """The hex part of a ``sha256:<hex>`` digest, or InvalidName."""
    match = DIGEST.fullmatch(text)
    if match is None:
        raise InvalidName("invalid digest")
    return match.group(1)


def is_digest_reference(reference):
    return ":" in reference


def packages(name):
    """(packages, optional): the sorted packages of the image `name`, and
    those of them that only `shell` asked for (left out if not found)."""
    requested = set(check_name(name).split("/"))
    optional = set()
    if SHELL in requested:
        requested.discard(SHELL)
        optional = set(SHELL_PACKAGES) - requested
    return tuple(sorted(requested | optional)), frozenset(optional)
