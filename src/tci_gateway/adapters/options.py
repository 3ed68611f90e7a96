"""What every adapter does with its options before it reads them: a typo is refused,
never silently ignored (``status_overides`` would otherwise leave the defaults in place
without a word).

:func:`refuse_unknown` checks an ``options`` table against the names an adapter reads;
:func:`sandbox_options` does the same for ``[insurers.NAME.options.sandbox]`` against
the keyword parameters of the sandbox's constructor, and reads a ``seed`` file, so a
missing or broken seed file is a :class:`~tci_gateway.errors.ConfigError` too.

:class:`AdapterOptions` is the base of every adapter's options model (pydantic, one
per adapter): unknown names refused in the same words as :func:`refuse_unknown`, any
other bad value one line naming the option. :meth:`AdapterOptions.from_context` also
runs the checks every plugin factory makes first: credentials present
(:func:`check_credentials`, naming the environment variables to set, never a value) and
a base URL that is a URL (:func:`check_base_url`). :func:`sandbox_factory` builds a
plugin's ``create_sandbox``. The field readers (:func:`whole_number`, :func:`flag`,
:func:`table`, :func:`code`, :func:`header_name`, :func:`https_url`, :func:`plain_text`,
:func:`optional_text`, :func:`decimal_option`) raise ``ValueError`` with a message naming
the option; :func:`option` makes one a field's check in its annotation
(``Annotated[int, option(whole_number, maximum=100)]``), or call them from a
``field_validator(mode="before")``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import ConfigError
from tci_gateway.http.jsonexact import loads

__all__ = [
    "AdapterOptions",
    "adapter_label",
    "check_base_url",
    "check_credentials",
    "code",
    "credential_env_name",
    "decimal_option",
    "flag",
    "header_name",
    "https_url",
    "keyword_options",
    "load_seed",
    "option",
    "optional_text",
    "plain_text",
    "refuse_unknown",
    "sandbox_factory",
    "sandbox_options",
    "table",
    "whole_number",
]

Kind = Literal["insurer", "bureau"]


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


class _Seedable(Protocol):
    def seed(self, data: Mapping[str, Any], /) -> None: ...


S = TypeVar("S", bound=_Seedable)


def sandbox_factory(factory: Callable[..., S], *, what: str) -> Callable[[Mapping[str, Any]], S]:
    """A plugin's ``create_sandbox``: ``factory(**options)`` (unknown options refused,
    see :func:`sandbox_options`), seeded with the ``seed`` option when there is one."""

    def create(options: Mapping[str, Any]) -> S:
        opts, seed = sandbox_options(options, factory, what=what)
        sandbox = factory(**opts)
        if seed is not None:
            sandbox.seed(seed)
        return sandbox

    create.__doc__ = f"A {what} from options: ``seed`` plus the keyword options of the sandbox."
    return create


# -- the checks every plugin factory makes -----------------------------------------------


def adapter_label(context: AdapterContext, *, plugin: str, kind: Kind) -> str:
    """How a message names a configured adapter: ``insurer 'allianz_fr' (allianz)``."""
    return f"{kind} {context.name!r} ({plugin})"


def credential_env_name(kind: Kind, adapter: str, credential: str) -> str:
    """The environment variable a credential is read from:
    ``TCI_INSURERS__<ADAPTER>__CREDENTIALS__<NAME>`` (``TCI_BUREAUS__`` for a bureau)."""
    group = "INSURERS" if kind == "insurer" else "BUREAUS"
    return f"TCI_{group}__{adapter.upper()}__CREDENTIALS__{credential.upper()}"


def check_credentials(
    context: AdapterContext, names: Sequence[str], *, plugin: str, kind: Kind
) -> None:
    """A :class:`ConfigError` naming the environment variables to set when a credential
    in ``names`` is missing or blank (never a value)."""
    missing = [n for n in names if not str(context.credentials.get(n) or "").strip()]
    if missing:
        env = ", ".join(credential_env_name(kind, context.name, n) for n in missing)
        raise ConfigError(
            f"{adapter_label(context, plugin=plugin, kind=kind)} is missing credentials "
            f"{', '.join(missing)}: set {env}"
        )


def check_base_url(context: AdapterContext, *, plugin: str, kind: Kind) -> None:
    """A :class:`ConfigError` when the base URL is not an ``http(s)://`` URL."""
    if not context.base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"{adapter_label(context, plugin=plugin, kind=kind)}: "
            f"base_url {context.base_url!r} is not a URL"
        )


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "value_error" and "error" in first.get("ctx", {}):
        message = str(first["ctx"]["error"])
    else:
        where = ".".join(str(part) for part in first["loc"])
        message = f"option {where}: {first['msg']}" if where else first["msg"]
    return " ".join(message.split())


class AdapterOptions(BaseModel):
    """The base of an adapter's options model: one field per option, with its default.

    A subclass declares its fields and, where a value needs more than pydantic's own
    checks, ``field_validator(mode="before")`` validators raising ``ValueError`` with a
    message naming the option (see the readers in this module). :meth:`parse` refuses an
    unknown name listing the known ones and turns any other bad value into one
    :class:`ConfigError` line; the model is frozen.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @classmethod
    def known_options(cls) -> frozenset[str]:
        """The option names the model reads."""
        return frozenset(cls.model_fields)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, *, what: str = "") -> Self:
        """The options from configuration; an unknown or bad one is a
        :class:`ConfigError` (prefixed ``what: `` when given)."""
        raw = dict(raw or {})
        refuse_unknown(raw, cls.known_options(), what=what)
        prefix = f"{what}: " if what else ""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(prefix + _one_line(exc)) from None
        except ConfigError as exc:
            raise ConfigError(prefix + str(exc)) from None

    @classmethod
    def from_context(
        cls,
        context: AdapterContext,
        *,
        plugin: str,
        kind: Kind,
        credentials: Sequence[str] = (),
    ) -> Self:
        """What a plugin factory does first: check ``credentials`` are set
        (:func:`check_credentials`), the base URL (:func:`check_base_url`), then parse
        ``context.options`` naming the adapter in any error."""
        check_credentials(context, credentials, plugin=plugin, kind=kind)
        check_base_url(context, plugin=plugin, kind=kind)
        return cls.parse(context.options, what=adapter_label(context, plugin=plugin, kind=kind))


# -- readers for field validators ----------------------------------------------------------


def option(read: Callable[..., Any], /, **kwargs: Any) -> BeforeValidator:
    """A field's check as one annotation: ``read(value, <field name>, **kwargs)`` before
    pydantic's own, e.g. ``page_size: Annotated[int, option(whole_number, maximum=100)]``.
    ``read`` raises ``ValueError`` naming the option (the readers below do)."""

    def run(value: Any, info: ValidationInfo) -> Any:
        return read(value, str(info.field_name), **kwargs)

    return BeforeValidator(run)


_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")


def whole_number(
    value: Any,
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    text: bool = False,
) -> int:
    """``value`` as an int from ``minimum`` to ``maximum`` (a bool never is one; a
    string of digits only when ``text``)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text and isinstance(value, str | Decimal):
        try:
            number = int(str(value).strip())
        except ValueError:
            number = None
    bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
    if number is None:
        raise ValueError(f"option {name} must be a whole number, {bounds}, got {value!r}")
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"option {name} must be {bounds}, got {value!r}")
    return number


def plain_text(value: Any, name: str) -> str:
    """Any value as its text (``str(value)``); never refused."""
    return str(value)


def optional_text(value: Any, name: str, *, strip: bool = False) -> str | None:
    """``str(value)`` (stripped when ``strip``), or ``None`` for an empty value."""
    if not value:
        return None
    return str(value).strip() if strip else str(value)


def flag(value: Any, name: str, *, text: bool = True) -> bool:
    """``true``/``false`` (and, when ``text``, the strings true/false/yes/no)."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if text and isinstance(value, str) else None
    if word in ("true", "false", "yes", "no"):
        return word in ("true", "yes")
    raise ValueError(f"option {name} must be true or false, got {value!r}")


def table(value: Any, name: str) -> Mapping[str, Any]:
    """A table (``None`` is an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"option {name} must be a table")
    return value


def code(value: Any, name: str) -> str:
    """A code as an insurer writes one: letters, digits and ``_.:-``, at most 64."""
    text = str(value).strip()
    if not _CODE_RE.match(text):
        raise ValueError(f"{name}: {value!r} is not a code")
    return text


def header_name(value: Any, name: str) -> str:
    """An HTTP header name."""
    text = str(value).strip()
    if not _HEADER_RE.match(text):
        raise ValueError(f"{name}: {value!r} is not an HTTP header name")
    return text


def https_url(value: Any, name: str) -> str:
    """An absolute ``https`` URL."""
    parts = urlsplit(str(value))
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"{name} must be an absolute https URL, got {value!r}")
    return str(value)


def decimal_option(value: Any, name: str) -> Decimal:
    """A finite number as Decimal, never through a float it does not have."""
    if isinstance(value, bool):
        raise ValueError(f"option {name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"option {name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"option {name} must be finite")
    return number
