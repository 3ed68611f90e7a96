"""Mapping profiles: real ERP exports (SAP, Odoo, ...) read as the canonical formats.

A profile says how a file is encoded and laid out, and which of its columns hold each
canonical column. :func:`read_with_profile` turns every row into a canonical
:class:`~tci_gateway.erp.reader.RawRecord` (canonical column names, amounts written
``1234.56``, ISO dates, canonical kinds), so the canonical parsers and the import services
validate and write exactly as for a canonical file. Rows keep the spreadsheet row of the
original file (title lines skipped with ``skip_rows`` count) and every error names the
file's own column (:meth:`ErpProfile.rename`). The format: ``docs/erp-profiles.md``.
"""

from __future__ import annotations

import csv
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tci_gateway.domain.receivables import ItemKind
from tci_gateway.erp.canonical import BUYER_COLUMNS, OPEN_ITEM_COLUMNS, check_source
from tci_gateway.erp.reader import (
    CODECS,
    MAX_CSV_BYTES,
    Columns,
    RawRecord,
    UndecodableError,
    decode_lines,
)
from tci_gateway.errors import ConfigError, RecordError

CANONICAL: dict[str, Columns] = {"buyers": BUYER_COLUMNS, "open_items": OPEN_ITEM_COLUMNS}
_ENCODING_ALIASES = {
    **{name: name for name in CODECS},
    "utf8": "utf-8",
    "cp1252": "windows-1252",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}
THOUSANDS_SEPARATORS = ("", ".", ",", " ", "'", "\u00a0", "\u202f")
AMOUNT_COLUMNS = ("amount", "open_amount")
DATE_COLUMNS = ("document_date", "delivery_date", "due_date")


class ErpProfile(BaseModel):
    """How to read one ERP export as a canonical buyers or open-items file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["buyers", "open_items"]
    description: str = ""
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: str = ""
    date_format: str = "%Y-%m-%d"
    columns: dict[str, str]
    constants: dict[str, str] = Field(default_factory=dict)
    kind_codes: dict[str, str] = Field(default_factory=dict)
    sign_convention: Literal["positive", "signed", "sap_trailing_minus"] = "positive"
    true_values: list[str] = Field(default_factory=list)
    false_values: list[str] = Field(default_factory=list)
    skip_rows: int = Field(default=0, ge=0, le=1000)
    complete: bool = False
    """Open items: each file is the complete list of open items of its scope (``source``
    and, when the file carries one, the company code); items it no longer lists close."""
    source: str | None = None
    """Open items: the import source the items belong to (``default`` when unset)."""

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else check_source(value)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        key = value.strip().lower().replace("_", "-")
        if key not in _ENCODING_ALIASES:
            raise ValueError(f"encoding {value!r} is not one of {', '.join(CODECS)}")
        return _ENCODING_ALIASES[key]

    @field_validator("delimiter", "quotechar")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n":
            raise ValueError(f"{value!r} must be exactly one character (not a line break)")
        return value

    @field_validator("thousands_separator")
    @classmethod
    def _thousands(cls, value: str) -> str:
        value = "" if value.lower() == "none" else value
        if value not in THOUSANDS_SEPARATORS:
            allowed = ", ".join(repr(s) for s in ("none", *THOUSANDS_SEPARATORS[1:]))
            raise ValueError(f"thousands_separator {value!r} is not one of {allowed}")
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        # Two dates that differ in day, month and year must survive a round trip.
        for sample in (date(2026, 12, 31), date(2027, 1, 5)):
            try:
                back = time.strptime(sample.strftime(value), value)
                ok = (back.tm_year, back.tm_mon, back.tm_mday) == sample.timetuple()[:3]
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"date_format {value!r} does not read back a day, month, year")
        return value

    @field_validator("kind_codes")
    @classmethod
    def _kind_codes(cls, value: dict[str, str]) -> dict[str, str]:
        known = ", ".join(k.value for k in ItemKind)
        out = {}
        for code, kind in value.items():
            if kind.upper() not in ItemKind.__members__:
                raise ValueError(f"kind_codes.{code} = {kind!r} is not one of {known}")
            out[code.strip()] = kind.upper()
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ErpProfile:
        canonical = CANONICAL[self.kind]
        unknown = sorted((set(self.columns) | set(self.constants)) - canonical.allowed)
        if unknown:
            known = ", ".join(sorted(canonical.allowed))
            raise ValueError(
                f"unknown canonical column(s) {', '.join(unknown)} for {self.kind} (known: {known})"
            )
        both = sorted(set(self.columns) & set(self.constants))
        missing = [c for c in canonical.required if c not in self.columns | self.constants]
        truthy = {v.casefold() for v in self.true_values}
        overlap = sorted(truthy & {v.casefold() for v in self.false_values})
        checks = (
            (both, f"{', '.join(both)} given both in columns and in constants"),
            (missing, f"required canonical column(s) not mapped: {', '.join(missing)}"),
            (any(not h.strip() for h in self.columns.values()), "a header in columns is empty"),
            (self.delimiter == self.quotechar, "delimiter and quotechar must differ"),
            (
                self.decimal_separator == self.thousands_separator,
                "decimal_separator and thousands_separator must differ",
            ),
            (
                self.kind_codes and "kind" not in self.columns,
                "kind_codes need the document-type column in columns.kind",
            ),
            (
                self.kind == "buyers" and (self.kind_codes or self.sign_convention != "positive"),
                "kind_codes and sign_convention apply to open_items profiles only",
            ),
            (
                self.kind == "buyers" and (self.complete or self.source is not None),
                "complete and source apply to open_items profiles only",
            ),
            (overlap, f"{', '.join(overlap)} in both true_values and false_values"),
        )
        for failed, message in checks:
            if failed:
                raise ValueError(message)
        return self

    def column_label(self, canonical: str) -> str:
        """The name of ``canonical`` in the file, as errors should show it."""
        if canonical in self.columns:
            return self.columns[canonical]
        if canonical in self.constants:
            return f"{canonical} (profile constant)"
        return f"{canonical} (not mapped by the profile)"

    def rename(self, error: RecordError) -> RecordError:
        """``error`` from a canonical parser, with the file's own column name."""
        if error.column is None:
            return error
        return replace(error, column=self.column_label(error.column))


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: "
        + item["msg"].removeprefix("Value error, ")
        for item in error.errors()
    )


def load_profile(path: Path) -> ErpProfile:
    """A profile from a standalone TOML file: the profile's keys at the top level (or a
    single ``[erp_profiles.<name>]`` table). Raises :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"profile file {path} not found") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"profile file {path} is not readable TOML: {exc}") from exc
    nested = data.get("erp_profiles")
    if set(data) == {"erp_profiles"} and isinstance(nested, dict) and len(nested) == 1:
        data = next(iter(nested.values()))
    try:
        return ErpProfile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid profile file {path}: {_describe(exc)}") from None


def resolve_profile(
    name_or_path: str, configured: Mapping[str, ErpProfile], *, base_dir: Path | None = None
) -> ErpProfile:
    """A profile named in the configuration's ``[erp_profiles]``, else a TOML file (as
    given, then relative to ``base_dir``). Raises :class:`ConfigError` if neither."""
    if name_or_path in configured:
        return configured[name_or_path]
    candidates = [Path(name_or_path)]
    if base_dir is not None and not candidates[0].is_absolute():
        candidates.append(base_dir / name_or_path)
    for candidate in candidates:
        if candidate.is_file():
            return load_profile(candidate)
    known = ", ".join(sorted(configured)) or "none"
    raise ConfigError(
        f"unknown mapping profile {name_or_path!r}: not a name in [erp_profiles] "
        f"(configured: {known}) and not a profile file"
    )


class _RowMapper:
    """Maps the cells of one row to canonical text, with errors on the file's columns."""

    def __init__(self, profile: ErpProfile, source: str) -> None:
        self.p, self.source = profile, source
        self.index: dict[str, int] = {}
        self.width = 0
        dec, th = re.escape(profile.decimal_separator), re.escape(profile.thousands_separator)
        whole = rf"(?:\d{{1,3}}(?:{th}\d{{3}})+|\d+)" if th else r"\d+"
        self.number = re.compile(rf"^{whole}(?:{dec}\d+)?$")
        example = f"1{profile.thousands_separator}234{profile.decimal_separator}56"
        self.example = {"signed": "-" + example, "sap_trailing_minus": example + "-"}.get(
            profile.sign_convention, example
        )
        self.truthy = {v.casefold() for v in profile.true_values}
        self.falsy = {v.casefold() for v in profile.false_values}

    def bind(self, header: list[str], row: int) -> list[RecordError]:
        """Find each mapped column in the header row."""
        errors = []
        self.width = len(header)
        positions: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            positions.setdefault(name, []).append(i)
        for canonical, name in self.p.columns.items():
            found = positions.get(name.strip(), [])
            if not found:
                reason = f"column is missing from the header (the profile maps {canonical} to it)"
                errors.append(RecordError(self.source, row, name, reason))
            elif len(found) > 1:
                errors.append(RecordError(self.source, row, name, "column appears twice"))
            else:
                self.index[canonical] = found[0]
        return errors

    def map(self, row: int, fields: list[str]) -> RawRecord | list[RecordError]:
        values: dict[str, Any] = dict(self.p.constants)
        errors: dict[tuple[str, str], RecordError] = {}

        def fail(canonical: str, reason: str) -> None:
            column = self.p.columns[canonical]
            errors.setdefault((column, reason), RecordError(self.source, row, column, reason))

        cells = {canonical: fields[i].strip() for canonical, i in self.index.items()}
        kind = self._kind(cells, values, fail)
        for canonical, text in cells.items():
            if canonical == "kind":
                continue
            try:
                if canonical in AMOUNT_COLUMNS:
                    values[canonical] = self._amount(text, kind)
                elif canonical in DATE_COLUMNS:
                    values[canonical] = self._date(text)
                elif canonical == "disputed" and (self.truthy or self.falsy):
                    values[canonical] = self._flag(text)
                else:
                    values[canonical] = text
            except ValueError as exc:
                fail(canonical, str(exc))
        return list(errors.values()) if errors else RawRecord(row, values)

    def _kind(
        self, cells: dict[str, str], values: dict[str, Any], fail: Callable[[str, str], None]
    ) -> ItemKind | None:
        if "kind" in cells:
            text = cells["kind"]
            if self.p.kind_codes and text:
                if text not in self.p.kind_codes:
                    known = ", ".join(sorted(self.p.kind_codes))
                    reason = f"document type {text!r} is not in the profile's kind_codes"
                    fail("kind", f"{reason} (known: {known})")
                    return None
                text = self.p.kind_codes[text]
            values["kind"] = text
        text = str(values.get("kind", "")).upper()
        return ItemKind(text) if text in ItemKind.__members__ else None

    def _amount(self, text: str, kind: ItemKind | None) -> str:
        if not text:
            return ""
        body, negative = text, False
        if self.p.sign_convention == "signed" and body.startswith("-"):
            body, negative = body[1:], True
        elif self.p.sign_convention == "sap_trailing_minus" and body.endswith("-"):
            body, negative = body[:-1], True
        if not self.number.match(body):
            raise ValueError(
                f"amount {text!r} is not a number written like {self.example!r} "
                f"(sign_convention {self.p.sign_convention!r})"
            )
        if self.p.thousands_separator:
            body = body.replace(self.p.thousands_separator, "")
        body = body.replace(self.p.decimal_separator, ".")
        if kind is not None and self.p.sign_convention != "positive" and body.strip("0.") != "":
            credit = kind is not ItemKind.INVOICE
            if negative != credit:
                should = "negative" if credit else "positive"
                raise ValueError(
                    f"amount {text!r} of a {kind.value} should be {should} under "
                    f"sign_convention {self.p.sign_convention!r}"
                )
        return body

    def _date(self, text: str) -> str:
        if not text:
            return ""
        try:
            parsed = time.strptime(text, self.p.date_format)
            return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday).isoformat()
        except ValueError as exc:
            if "does not match" in str(exc) or "unconverted data" in str(exc):
                raise ValueError(
                    f"date {text!r} is not in the profile's date_format {self.p.date_format!r}"
                ) from None
            raise ValueError(f"date {text!r} is not a calendar date") from None

    def _flag(self, text: str) -> str:
        folded = text.casefold()
        if folded in self.truthy:
            return "true"
        if not folded or folded in self.falsy:
            return "false"
        raise ValueError(
            f"{text!r} is not one of the profile's true_values {self.p.true_values} "
            f"or false_values {self.p.false_values}"
        )


def read_with_profile(
    path: Path, profile: ErpProfile, *, max_bytes: int | None = None
) -> Iterator[RawRecord | RecordError]:
    """Stream the rows of a CSV export as canonical records, with errors as data.

    Rows are numbered as a spreadsheet shows the original file (its first line is row 1);
    columns the profile does not map are ignored; blank rows are skipped.
    """
    source = str(path)
    if not path.is_file():
        yield RecordError(source, None, None, "file not found")
        return
    size, cap = path.stat().st_size, max_bytes or MAX_CSV_BYTES
    if size > cap:
        yield RecordError(source, None, None, f"file is {size} bytes; the limit is {cap}")
        return
    if path.suffix.lower() == ".json":
        yield RecordError(source, None, None, "mapping profiles read CSV files, not JSON")
        return
    mapper = _RowMapper(profile, source)
    header_row = profile.skip_rows + 1
    row = header_row - 1  # the last row read, for a csv.Error in the next one
    with path.open("rb") as handle:
        lines = decode_lines(handle, profile.encoding)
        try:
            for _ in range(row):
                next(lines, None)
            reader = csv.reader(
                lines, delimiter=profile.delimiter, quotechar=profile.quotechar, strict=True
            )
            header, row = next(reader, None), header_row
            if header is None:
                yield RecordError(
                    source, None, None, f"no header row (expected at row {header_row})"
                )
                return
            header_errors = mapper.bind([h.strip() for h in header], header_row)
            if header_errors:
                yield from header_errors
                return
            for row, fields in enumerate(reader, start=header_row + 1):
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) != mapper.width:
                    reason = f"{len(fields)} fields where the header has {mapper.width}"
                    yield RecordError(source, row, None, reason)
                    continue
                mapped = mapper.map(row, fields)
                yield from mapped if isinstance(mapped, list) else (mapped,)
        except UndecodableError as exc:
            yield RecordError(source, exc.line, None, exc.reason)
        except csv.Error as exc:
            yield RecordError(source, row + 1, None, f"unreadable CSV: {exc}")
