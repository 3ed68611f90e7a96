"""What every ``tci`` command shares: global options, output, and the wiring built once
from the configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from tci_gateway.cli.output import Output
from tci_gateway.domain.policy import BusinessDay
from tci_gateway.logs import configure_logging

if TYPE_CHECKING:
    from tci_gateway.config import Settings
    from tci_gateway.wiring import Wiring


@dataclass
class State:
    config: Path | None = None
    json: bool = False
    log_format: str | None = None
    log_level: str | None = None
    as_of: datetime | None = None
    output: Output = field(default_factory=Output)
    _wiring: Wiring | None = None

    def wiring(self) -> Wiring:
        from tci_gateway.config import find_config, load_settings
        from tci_gateway.wiring import Wiring

        if self._wiring is None:
            settings = load_settings(self.config)
            configure_logging(
                self.log_format or settings.logging.format, self.log_level or settings.logging.level
            )
            path = find_config(self.config)
            self._wiring = Wiring(settings, path.parent if path else Path.cwd())
        return self._wiring

    @property
    def settings(self) -> Settings:
        return self.wiring().settings

    def now(self) -> datetime:
        return self.as_of or datetime.now(UTC)


def state_of(ctx: typer.Context) -> State:
    """The :class:`State` the main callback put on the context."""
    state = ctx.obj
    assert isinstance(state, State)
    return state


# The global options (``tci --help``), with whether each takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--json": False,
    "--config": True,
    "-c": True,
    "--log-format": True,
    "--log-level": True,
    "--as-of": True,
}


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options (and their values) moved before the command, so
    that ``tci exposure --json`` means ``tci --json exposure``. Nothing after ``--`` moves."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if arg == "--":
            rest.extend(args[i:])
            break
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(args[i : i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
            continue
        rest.append(arg)
        i += 1
    return front + rest


class GlobalOptionsGroup(TyperGroup):
    """The root ``tci`` group: global options are accepted after the command as well."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, hoist_global_options(args))


def parse_as_of(value: str | None) -> datetime | None:
    """``--as-of``: an ISO datetime (UTC unless it has an offset), or a date, which is
    that date in every policy's time zone (a :class:`BusinessDay`)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return BusinessDay.of(date.fromisoformat(value))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
