"""The shipped JSON Schema files, and fastschema held to jsonschema's verdicts."""

import copy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine_support import attrs_document, dags, path_info_list, path_info_object
from group_layers import validate
from group_layers.fastschema import compile_schema

NAMES = sorted(p.stem for p in Path(validate.SCHEMAS).glob("*.json"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([2.0, -1, 1.5, "", "x", "/", "/nix/store/x-y", "nix/store/x-y", "/a/"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["path", "narSize", "closureSize", "references", "graph", "/nix/store/x-y",
                         "contents", "name", "size", "why", "x", "version", "images"]), inner, max_size=3),
    max_leaves=8,
)


def places(doc, where=()):
    """Every element's path of keys, the document itself first."""
    yield where
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in children:
        yield from places(value, (*where, key))


@st.composite
def documents(draw):
    """Valid documents of every kind, some broken in one place."""
    packages, roots, popularity = draw(dags(max_paths=6))
    graph = attrs_document(packages, roots)
    layers = [{"contents": sorted(e["path"] for e in graph["graph"]), "name": "x-1", "size": 1, "why": "rest"}]
    doc = copy.deepcopy(draw(st.sampled_from([
        graph, path_info_list(packages), path_info_object(packages), popularity, layers,
        {"version": 1, "images": {"x": layers, "y": []}},
    ])))
    if draw(st.booleans()):
        where = draw(st.sampled_from(list(places(doc))))
        if not where:
            return draw(json_values)
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(json_values)
    return doc


@pytest.mark.parametrize("name", NAMES)
def test_schema_files_are_valid_json_schema(name):
    Draft202012Validator.check_schema(validate.schema(name))


def test_every_schema_is_shipped():
    assert NAMES == ["graph-attrs", "layers", "lock", "path-info-list", "path-info-object", "popularity"]


@settings(max_examples=300, deadline=None)
@given(documents())
def test_fastschema_agrees_with_jsonschema(doc):
    for name in NAMES:
        expected = Draft202012Validator(validate.schema(name)).is_valid(doc)
        assert compile_schema(validate.schema(name))(doc) == expected, name


@pytest.mark.parametrize("schema", [
    {"type": "string", "format": "uri"},
    {"items": {"enum": [1, 2]}},
    {"$ref": "other.json#/$defs/x"},
    {"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"},
])
def test_fastschema_refuses_what_it_would_not_check(schema):
    with pytest.raises(ValueError):
        compile_schema(schema)


@pytest.mark.parametrize("counts", [
    [1, 2, 0], [1, -1, 2], [3, 2.0], [3, 2.5], [True, 1], [1, None], [1, "2"], [],
])
def test_fastschema_checks_every_popularity_count(counts):
    """Many counts are checked at once (fastschema's ``every``): each must still count."""
    doc = {f"p{i}": count for i, count in enumerate(counts)}
    expected = Draft202012Validator(validate.schema("popularity")).is_valid(doc)
    assert compile_schema(validate.schema("popularity"))(doc) == expected
