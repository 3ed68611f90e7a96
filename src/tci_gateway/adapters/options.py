"""What every adapter does with its options before it reads them: a typo is refused,
never silently ignored (``status_overides`` would otherwise leave the defaults in place
without a word).

:func:`refuse_unknown` checks an ``options`` table against the names an adapter reads;
:func:`sandbox_options` does the same for ``[insurers.NAME.options.sandbox]`` against
the keyword parameters of the sandbox's constructor, and reads a ``seed`` file, so a
missing or broken seed file is a :class:`~tci_gateway.errors.ConfigError` too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tci_gateway.errors import ConfigError
from tci_gateway.http.jsonexact import loads

__all__ = ["keyword_options", "load_seed", "refuse_unknown", "sandbox_options"]


def refuse_unknown(options: Mapping[str, Any], known: Iterable[str], *, what: str = "") -> None:
    """Raise :class:`ConfigError` when ``options`` holds a name not in ``known``; the
    message (prefixed ``what: `` when given) names the unknown ones and lists the known
    ones."""
    allowed = set(known)
    unknown = sorted(str(name) for name in options if name not in allowed)
    if unknown:
        prefix = f"{what}: " if what else ""
        raise ConfigError(
            f"{prefix}unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(allowed)) or 'none'})"
        )


def keyword_options(factory: Callable[..., Any]) -> frozenset[str]:
    """The names of the keyword parameters ``factory`` (a class or function) takes."""
    params = inspect.signature(factory).parameters.values()
    return frozenset(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.name != "self"
    )


def load_seed(source: Any, *, what: str) -> Mapping[str, Any]:
    """A sandbox seed: a mapping as given, or the JSON file a path names (numbers read
    as Decimal). A file that is missing, unreadable or not a JSON object is a
    :class:`ConfigError` naming it."""
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | Path):
        raise ConfigError(f"{what}: seed must be a file path or a table, not {source!r}")
    path = Path(source)
    try:
        data = loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{what}: seed file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read seed file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{what}: seed file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: seed file {path} does not hold a JSON object")
    return data


def sandbox_options(
    options: Mapping[str, Any], factory: Callable[..., Any], *, what: str
) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    """Split sandbox ``options`` into the keyword arguments of ``factory`` (checked:
    an unknown name is refused, the known ones listed) and the loaded ``seed`` (or
    ``None``)."""
    opts = dict(options)
    seed = opts.pop("seed", None)
    refuse_unknown(opts, keyword_options(factory) | {"seed"}, what=what)
    return opts, (None if seed is None else load_seed(seed, what=what))
