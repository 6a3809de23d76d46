"""Label matchers with Alertmanager's semantics: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

A missing label matches as the empty string (so ``team=""`` selects alerts without a team), and regular
expressions are anchored at both ends (``integration=~"stripe|paypal"`` does not match ``stripe_eu``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]
MATCHER_EXPECTED = ('a matcher such as severity="critical", integration!=stripe, category=~"pay.*" or '
                    'job!~"test_.*" (label name, one of = != =~ !~, value; quotes optional)')
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = re.compile(rf"^\s*({LABEL_NAME})\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled; the message says what is expected."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Operator
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: Operator, value: str) -> Matcher:
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)  # fullmatch: anchored at both ends, alternatives included
            except re.error as error:
                raise MatcherError(f"a valid regular expression after {name}{op} ({error})") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """``severity="critical"`` (or without quotes) as a Matcher; MatcherError otherwise."""
    if not isinstance(text, str):
        raise MatcherError(MATCHER_EXPECTED)
    found = _MATCHER.match(text)
    if not found:
        raise MatcherError(MATCHER_EXPECTED)
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].replace('\\"', '"')
    return Matcher.create(name, op, value)  # type: ignore[arg-type]


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(text) for text in texts)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


def equality_pairs(matchers: Sequence[Matcher]) -> list[tuple[str, str]]:
    """The ``name=value`` matchers with a non-empty value: what an index over label values can look up."""
    return [(m.name, m.value) for m in matchers if m.op == "=" and m.value]
