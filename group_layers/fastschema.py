"""Compile a JSON Schema into one plain Python predicate, for valid input at speed.

Only the part of JSON Schema (draft 2020-12) that the shipped schema files
use is understood: ``type``, ``properties``, ``required``,
``additionalProperties``, ``propertyNames``, ``items`` (one schema for all
items), ``minItems``, ``minimum``, ``pattern``, ``minLength``, local
``$ref`` into ``$defs``, and the annotations (``title``, ``description``,
...).  Any other keyword is refused when the schema is compiled, never
silently skipped, so a schema file cannot demand more than is checked.  Each
keyword applies only to instances of its type, as the specification says;
``integer`` includes floats without a fraction, as jsonschema's does.

The predicate says only *whether* a document is valid: ``validate.py`` asks
jsonschema *why* it is not.  The tests hold both to the same verdicts.
"""

import re

_ANNOTATIONS = {
    "$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
}


def _is_integer(x):
    return type(x) is int or (type(x) is float and x.is_integer())


def _is_number(x):
    return type(x) is int or type(x) is float


_TYPES = {
    "object": dict.__instancecheck__,
    "array": list.__instancecheck__,
    "string": str.__instancecheck__,
    "boolean": bool.__instancecheck__,
    "null": lambda x: x is None,
    "integer": _is_integer,
    "number": _is_number,
}


_GROUPS = {
    "object": {"properties", "required", "additionalProperties", "propertyNames"},
    "array": {"items", "minItems"},
    "string": {"pattern", "minLength"},
    "number": {"minimum"},
}
_GROUP_OF = {"object": "object", "array": "array", "string": "string",
             "integer": "number", "number": "number", "boolean": None, "null": None}
_KNOWN = _ANNOTATIONS.union({"$ref", "type"}, *_GROUPS.values())


def _always(_):
    return True


def _never(_):
    return False


def compile_schema(schema):
    """A function of a parsed JSON document: is it valid against ``schema``?"""
    return _Compiler(schema).compile(schema)


class _Compiler:
    def __init__(self, root):
        self.root = root
        self.refs = {}

    def compile(self, schema):
        if schema is True:
            return _always
        if schema is False:
            return _never
        unknown = set(schema) - _KNOWN
        if unknown:
            raise ValueError(f"JSON Schema keywords not supported: {sorted(unknown)}")
        checks = [self.ref(schema["$ref"])] if "$ref" in schema else []
        groups = [g for g, keywords in _GROUPS.items() if keywords & schema.keys()]
        types = schema.get("type")
        types = [types] if isinstance(types, str) else types
        if types and len(types) == 1 and groups in ([], [_GROUP_OF[types[0]]]):
            # One type: its keywords' check rejects other types itself.
            checks.extend(getattr(self, g)(schema, _TYPES[types[0]]) for g in groups)
            if not groups:
                checks.append(_TYPES[types[0]])
        else:
            if types:
                predicates = [_TYPES[t] for t in types]
                checks.append(lambda x: any(p(x) for p in predicates))
            checks.extend(getattr(self, g)(schema, None) for g in groups)
        return _all(checks)

    def ref(self, reference):
        if not reference.startswith("#/$defs/") or "/" in reference[8:]:
            raise ValueError(f"only local $ref into $defs is supported, not {reference!r}")
        if reference not in self.refs:
            self.refs[reference] = None
            self.refs[reference] = self.compile(self.root["$defs"][reference[8:]])
        check = self.refs[reference]
        if check is None:
            raise ValueError(f"recursive $ref not supported: {reference!r}")
        return check

    # Each keyword group's check: ``strict`` (the schema's only type) or None
    # (then instances of other types pass).

    def object(self, schema, strict):
        required = frozenset(schema.get("required", ()))
        properties = {k: self.compile(s) for k, s in schema.get("properties", {}).items()}
        additional = schema.get("additionalProperties", True)
        additional = None if additional is True else self.compile(additional)
        names = schema.get("propertyNames", True)
        names = None if names is True else self.compile(names)
        known = tuple(properties.items())
        every = _every(additional)

        def check(x):
            if type(x) is not dict:
                return strict is None
            if not required <= x.keys():
                return False
            if additional is None and names is None:
                for key, valid in known:
                    if key in x and not valid(x[key]):
                        return False
                return True
            if names is not None and not all(map(names, x)):
                return False
            if not properties:  # a map's values: one check for all, in C loops
                return additional is None or every(x.values())
            for key, value in x.items():
                valid = properties.get(key, additional)
                if valid is not None and not valid(value):
                    return False
            return True

        return check

    def array(self, schema, strict):
        items = self.compile(schema.get("items", True))
        least = schema.get("minItems", 0)
        if strict:
            return lambda x: type(x) is list and len(x) >= least and all(map(items, x))
        return lambda x: type(x) is not list or (len(x) >= least and all(map(items, x)))

    @staticmethod
    def string(schema, strict):
        search = re.compile(schema.get("pattern", "")).search
        least = schema.get("minLength", 0)
        if strict:
            return lambda x: type(x) is str and len(x) >= least and search(x) is not None
        return lambda x: type(x) is not str or (len(x) >= least and search(x) is not None)

    @staticmethod
    def number(schema, strict):
        minimum = schema["minimum"]
        if strict is _is_integer:  # the common case, in one call
            def check(x):
                return (type(x) is int or type(x) is float and x.is_integer()) and x >= minimum

            def every(xs):  # many at once (popularity counts): when all are ints, two C loops
                if set(map(type, xs)) <= {int}:
                    return min(xs, default=minimum) >= minimum
                return all(map(check, xs))

            check.every = every
            return check
        if strict:
            return lambda x: strict(x) and x >= minimum
        return lambda x: not _is_number(x) or x >= minimum


def _every(check):
    """A function of a collection: does ``check`` accept each of its elements?
    (``check.every``, where a check has a faster one.)"""
    if check is None:
        return None
    return getattr(check, "every", None) or (lambda xs: all(map(check, xs)))


def _all(checks):
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(x):
        for valid in checks:
            if not valid(x):
                return False
        return True

    return check
