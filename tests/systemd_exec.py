"""How systemd turns an `ExecStart=` line into the argv of the program it
starts (systemd.service(5), "Command lines"; systemd's config_parse_exec and
replace_env_argv), as a model for checking the lines the NixOS modules write:

1. the line is split into words at whitespace; "..." and '...' quote, and
   backslash sequences are C escapes (\\n, \\", \\\\, \\xNN, \\uNNNN, ...),
   inside quotes and out;
2. in each word the %-specifiers are resolved: "%%" is "%", a specifier
   letter its value, anything else (the "%2" of "%2F") makes systemd refuse
   the line ("Failed to resolve unit specifiers ...: Invalid slot");
3. when the program starts, in each word "$$" is "$" and "${NAME}" the
   variable's value; a word that is just "$NAME" becomes the value's words
   (none when unset); "$NAME" inside a word stays as it is.
"""

import re

# Some of systemd's specifiers, with stand-in values (what matters is that
# they are replaced).
SPECIFIERS = {"n": "unit.service", "N": "unit", "p": "unit", "i": "", "I": "", "t": "/run", "S": "/var/lib",
              "C": "/var/cache", "L": "/var/log", "h": "/root", "u": "root", "U": "0", "H": "host", "m": "machine-id",
              "b": "boot-id", "v": "6.1.0", "T": "/tmp", "V": "/var/tmp", "E": "/etc", "f": "/unit", "j": "unit"}

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "s": " ",
            "\\": "\\", '"': '"', "'": "'"}


class Refused(ValueError):
    """systemd would not load the line."""


def _unescape(line: str, i: int) -> tuple[str, int]:
    """The C escape at line[i] (after the backslash) and the index after it."""
    c = line[i]
    if c in _ESCAPES:
        return _ESCAPES[c], i + 1
    for prefix, digits, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
        if c == prefix:
            return chr(int(line[i + 1:i + 1 + digits], base)), i + 1 + digits
    if c in "01234567":
        return chr(int(line[i:i + 3], 8)), i + 3
    raise Refused(f"invalid escape \\{c}")


def split(line: str) -> list[str]:
    """Step 1: the words of the line."""
    words, word, quote, in_word, i = [], [], None, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            text, i = _unescape(line, i + 1)
            word.append(text)
            in_word = True
            continue
        if quote:
            if c == quote:
                quote = None
            else:
                word.append(c)
        elif c in "\"'":
            quote, in_word = c, True
        elif c.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(c)
            in_word = True
        i += 1
    if quote:
        raise Refused("unbalanced quoting")
    if in_word:
        words.append("".join(word))
    return words


def resolve_specifiers(word: str) -> str:
    """Step 2, for one word."""
    parts = word.split("%")
    out, i = [parts[0]], 1
    while i < len(parts):
        part = parts[i]
        if part == "" and i + 1 < len(parts):  # "%%"
            out.append("%" + parts[i + 1])
            i += 2
            continue
        if part == "" or part[0] not in SPECIFIERS:
            raise Refused(f"Failed to resolve unit specifiers in {word}: Invalid slot")
        out.append(SPECIFIERS[part[0]] + part[1:])
        i += 1
    return "".join(out)


def expand_variables(words: list[str], env: dict[str, str]) -> list[str]:
    """Step 3."""
    argv = []
    for word in words:
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv += env.get(whole.group(1), "").split()
            continue
        argv.append(re.sub(r"\$\$|\$\{([^}]*)\}", lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), ""),
                           word))
    return argv


def argv(line: str, env: dict[str, str]) -> list[str]:
    """The program's argv for the ExecStart= line, with `env` its environment."""
    return expand_variables([resolve_specifiers(word) for word in split(line)], env)
