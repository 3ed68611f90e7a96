"""Checks the insurer and bureau contract suites share: an adapter refuses an option it
does not know, naming it and listing the ones it knows (issue 10, section 7)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tci_gateway.errors import ConfigError

_KNOWN_RE = re.compile(r"\(known: ([^)]*)\)")


def refused_with_known(build: Callable[[], Any], unknown: str) -> set[str]:
    """Call ``build`` (which passes the option ``unknown``), expect a
    :class:`ConfigError` naming ``unknown`` and return the known names it lists."""
    with pytest.raises(ConfigError) as refused:
        build()
    message = str(refused.value)
    assert "\n" not in message
    assert unknown in message and "unknown option" in message, message
    match = _KNOWN_RE.search(message)
    assert match, f"no list of known options in {message!r}"
    known = {name.strip() for name in match.group(1).split(",") if name.strip()}
    assert known and unknown not in known, message
    return known
