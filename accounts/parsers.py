"""Bad input stopped at the edge: JSON bodies and query strings no part of the app can
store or compare.

PostgreSQL refuses a NUL character in text and in `jsonb` ("\\u0000"), and `jsonb` has
no NaN or Infinity; a lone UTF-16 surrogate ("\\ud800") cannot even be encoded as UTF-8,
so an error message that quoted it failed to render. JSON nested thousands of levels
deep makes Python's parser raise RecursionError. Each of these was a 500 wherever it
reached the database or a renderer; here they are one clear 400 naming the place in the
body (or the query parameter), before any view runs. Limits that depend on the field
(lengths, integer ranges) stay with the serializers that know them.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from typing import Any

from rest_framework import exceptions, parsers
from rest_framework.parsers import get_encoding

# Deeper than any body the API takes (a Tribe filter of five nested groups is ~12);
# shallow enough that nothing downstream recurses into trouble.
MAX_JSON_DEPTH = 32

NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."
SURROGATE_MESSAGE = "Text may not contain a lone UTF-16 surrogate (such as \\ud800)."
NUMBER_MESSAGE = "Numbers must be finite: NaN, Infinity and values beyond 1e308 are refused."
DEPTH_MESSAGE = f"JSON may not be nested more than {MAX_JSON_DEPTH} levels deep."


def text_problem(text: str) -> str:
    """Why `text` cannot be stored, or "" when it can."""
    if "\x00" in text:
        return NUL_MESSAGE
    if _has_surrogate(text):
        return SURROGATE_MESSAGE
    return ""


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e309 parses as inf
        raise ValueError(f"{literal} is out of range")
    return value


def json_loads_strict(text: str | bytes) -> Any:
    """`json.loads` that refuses NaN, Infinity and floats that overflow, and reports
    nesting too deep for the parser as ValueError (not RecursionError)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise ValueError(DEPTH_MESSAGE) from exc


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def json_problems(data: Any) -> Iterator[tuple[str, str]]:
    """(path, message) for every value in parsed JSON that cannot be stored: NUL or lone
    surrogates in a string or key, non-finite numbers, nesting beyond MAX_JSON_DEPTH.
    Iterative, so depth costs no recursion. Paths read like the filter errors do:
    `filter.all[2].value`."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                yield path, problem
        elif isinstance(value, float) and not math.isfinite(value):
            yield path, NUMBER_MESSAGE
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                yield path, DEPTH_MESSAGE
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    problem = text_problem(key)
                    if problem:
                        yield path, f"A key here: {problem}"
                        continue
                stack.append((_path(path, key), item, depth + 1))


def json_validate(data: Any) -> None:
    """Raise a 400 (ValidationError) naming each place in `data` that cannot be stored."""
    errors: dict[str, list[str]] = {}
    for path, message in json_problems(data):
        errors.setdefault(path or "detail", []).append(message)
        if len(errors) >= 20:  # enough to fix the request; never echo a whole bomb back
            break
    if errors:
        raise exceptions.ValidationError(errors)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]) with the
    checks above: the body is refused with a 400 before a view sees it."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            data = json_loads_strict(codecs.getreader(encoding)(stream).read())
        except ValueError as exc:  # includes UnicodeDecodeError: not UTF-8
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if not isinstance(data, dict):  # every body the API takes is an object (API.md)
            raise exceptions.ParseError("The body must be a JSON object ({...}).")
        json_validate(data)
        return data
