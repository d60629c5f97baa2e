"""Values built from user input for response headers, upload filenames, and the limits of the
free-form parts of a version: any input, a safe result."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_service.domain.errors import Invalid
from model_service.domain.models import (
    MAX_METRICS,
    MAX_OBJECT_KEYS,
    MAX_PARAM_PATH_LENGTH,
    MAX_TAGS,
    MAX_VALUE_LENGTH,
    clean_hyperparameters,
    clean_metrics,
    clean_object,
    clean_tags,
    clean_text,
)
from model_service.server.downloads import content_disposition, header_value
from model_service.server.intake import MAX_FILENAME_LENGTH, clean_filename
from model_service.server.response_headers import secured

# Reproducible (the same examples on every run) and leaving no example database behind.
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)

# Any text, lone surrogates included (what a broken client or store could hand over).
ANY_TEXT = st.text(st.characters(codec=None), max_size=300)
VALID_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)


def is_safe_header(value: bytes) -> bool:
    return all(0x20 <= byte < 0x7F for byte in value)


# ---- Content-Disposition and other header values ------------------------------------------------

@PROPERTY
@given(ANY_TEXT)
def test_content_disposition_is_safe_ascii_for_any_filename(filename):
    value = content_disposition(filename)

    assert is_safe_header(value)
    text = value.decode("ascii")
    assert text.startswith('attachment; filename="')
    fallback, extended = text[len('attachment; filename="'):].split("\"; filename*=UTF-8''", 1)
    assert not set(fallback) & set('"\\%/')
    assert fallback.strip() == fallback and fallback
    assert all(c.isalnum() or c in "!#$&+-.^_`|~%" for c in extended)


@PROPERTY
@given(VALID_TEXT)
def test_the_extended_filename_decodes_back_to_the_name(filename):
    extended = content_disposition(filename).decode("ascii").split("filename*=UTF-8''", 1)[1]

    assert unquote(extended, errors="strict") == filename


@pytest.mark.parametrize(("filename", "fallback"), [
    ("fraud_model.onnx", "fraud_model.onnx"),
    ("bert+large_90%.pkl", "bert+large_90_.pkl"),
    ("modèle.onnx", "modele.onnx"),
    ("模型.pt", "__.pt"),
    ('a"b\\c.bin', "a_b_c.bin"),
    ("x\r\nSet-Cookie: a=b.bin", "x__Set-Cookie: a=b.bin"),
    ("../../etc/passwd", ".._.._etc_passwd"),
    ("", "download"),
])
def test_the_ascii_fallback(filename, fallback):
    assert content_disposition(filename).decode().split('"')[1] == fallback


@PROPERTY
@given(ANY_TEXT)
def test_header_value_is_safe_ascii_for_any_text(text):
    assert is_safe_header(header_value(text))


@PROPERTY
@given(VALID_TEXT)
def test_header_value_decodes_back(text):
    assert unquote(header_value(text).decode("ascii"), errors="strict") == text


def test_a_header_value_with_a_line_break_or_nul_is_dropped_and_the_rest_kept():
    headers = [(b"x-ok", b"fine"), (b"x-cr", b"a\rb"), (b"x-lf", b"a\nb"), (b"x-nul", b"a\0b"), (b"etag", b'"1"')]

    out = secured(headers, [(b"x-frame-options", b"DENY"), (b"etag", b"ignored")])

    assert out == [(b"x-ok", b"fine"), (b"etag", b'"1"'), (b"x-frame-options", b"DENY")]


# ---- upload filenames ----------------------------------------------------------------------------

@PROPERTY
@given(ANY_TEXT | st.builds(lambda a, b: f"{a}/../{b}", ANY_TEXT, ANY_TEXT))
def test_a_cleaned_filename_is_one_printable_path_component(name):
    kept = clean_filename(name)

    if kept is not None:
        assert "/" not in kept and "\\" not in kept
        assert kept not in (".", "..") and kept == kept.strip()
        assert 0 < len(kept) <= MAX_FILENAME_LENGTH
        assert not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in kept)


@pytest.mark.parametrize(("name", "kept"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\x", "x"),
    ("C:\\models\\final.pkl", "final.pkl"),
    ("..", None),
    (".", None),
    ("dir/", None),
    ("\r\n", None),
    ("a\u202egpj.exe", "agpj.exe"),
    ("zero\u200bwidth.pkl", "zerowidth.pkl"),
    (".hidden.pkl", ".hidden.pkl"),
    ("mode\u0301le.pkl", "mod\u00e9le.pkl"),  # composed (NFC)
])
def test_clean_filename(name, kept):
    assert clean_filename(name) == kept


def test_a_long_filename_keeps_its_extension():
    assert clean_filename("x" * 1000 + ".safetensors") == "x" * (255 - 12) + ".safetensors"
    assert clean_filename("y" * 1000) == "y" * 255


# ---- limits of the free-form parts ---------------------------------------------------------------

def test_tags_refuse_a_huge_list_before_looking_at_it():
    with pytest.raises(Invalid, match="At most"):
        clean_tags(["ok"] * (MAX_TAGS + 1))
    assert clean_tags(["a", "a", "b"]) == ("a", "b")


def test_metrics_are_bounded_in_number():
    assert len(clean_metrics({f"m{i}": 1 for i in range(MAX_METRICS)})) == MAX_METRICS
    with pytest.raises(Invalid) as raised:
        clean_metrics({f"m{i}": 1 for i in range(MAX_METRICS + 1)})
    assert raised.value.details["max_metrics"] == MAX_METRICS


@pytest.mark.parametrize("value", [
    {f"k{i}": i for i in range(MAX_OBJECT_KEYS + 1)},
    {"a": [{f"k{i}": i} for i in range(MAX_OBJECT_KEYS + 1)]},
    {"s": "x" * (MAX_VALUE_LENGTH + 1)},
    {"a": [[["x" * (MAX_VALUE_LENGTH + 1)]]]},
    {"a": {"": 1}},
    {"a": {"k" * 129: 1}},
    {"a": {"b\x00": 1}},
    {"a": ["\x00"]},
])
def test_objects_are_bounded_in_keys_and_string_length(value):
    with pytest.raises(Invalid):
        clean_object(value, "dataset_info")


@pytest.mark.parametrize("value", [
    {"a.b": 1, "a": {"b": 2}},
    {"a": {"b.c": 1, "b": {"c": 2}}},
    {"x" * 128: {"y" * 128: 1}},
    {'q"uote': 1},
    {"back\\slash": 1},
    {"new\nline": 1},
])
def test_hyperparameter_paths_are_unique_short_and_plain(value):
    with pytest.raises(Invalid) as raised:
        clean_hyperparameters(value)
    assert raised.value.code == "invalid_hyperparameters"


def test_hyperparameters_that_flatten_apart_are_accepted():
    value = {"optimizer.lr": 0.1, "optimizer": {"momentum": 0.9}, "empty": {}, "a": {"b": {"c": 1}},
             "layers": [{"a.b": 1}, {"a.b": 2}], "x" * 127: {"y" * (MAX_PARAM_PATH_LENGTH - 128): 1}}

    assert clean_hyperparameters(value) == value


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "a\tb"])
def test_one_line_text_refuses_every_line_break(value):
    assert clean_text(value, "algorithm") == value
    with pytest.raises(Invalid):
        clean_text(value, "algorithm", single_line=True)
