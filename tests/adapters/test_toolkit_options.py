"""The toolkit's options base, status-override parser, country helper and mapping
error (``tci_gateway.adapters.toolkit``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import field_validator

from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.contract_suite import refused_with_known
from tci_gateway.adapters.toolkit import (
    AdapterOptions,
    CodeTable,
    MappingError,
    StatusOverrides,
    check_credentials,
    code_key,
    currency,
    decimal_option,
    find_alpha2,
    find_identifier,
    flag,
    money,
    option,
    optional_text,
    parse_status_overrides,
    read_identifier,
    require,
    sandbox_factory,
    to_alpha2,
    to_alpha3,
    utc,
    vat_number,
    vat_prefix,
    whole_number,
)
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import ConfigError

# -- options ---------------------------------------------------------------------------


class _Options(AdapterOptions):
    page_size: int = 10
    language: str = "en"
    status_overrides: CodeTable[CoverStatus] = CodeTable()

    @field_validator("page_size", mode="before")
    @classmethod
    def _page_size(cls, value: Any) -> int:
        return whole_number(value, "page_size", maximum=100)

    @field_validator("status_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> CodeTable[CoverStatus]:
        return parse_status_overrides(value)


class _Annotated(AdapterOptions):
    page_size: Annotated[int, option(whole_number, maximum=100, text=True)] = 10
    region: Annotated[str | None, option(optional_text, strip=True)] = None
    status_overrides: StatusOverrides = CodeTable()


def test_checks_in_annotations_get_the_field_name() -> None:
    opts = _Annotated.parse(
        {"page_size": "20", "region": " EU ", "status_overrides": {"x": "REFUSED"}}
    )
    assert (opts.page_size, opts.region) == (20, "EU")
    assert opts.status_overrides["X"] is CoverStatus.REFUSED
    assert _Annotated.parse({"region": ""}).region is None
    with pytest.raises(ConfigError, match=r"^option page_size must be at least 1 and at most 100"):
        _Annotated.parse({"page_size": 101})
    with pytest.raises(ConfigError, match="status_overrides: 'x' maps to 'NOPE'"):
        _Annotated.parse({"status_overrides": {"x": "NOPE"}})


def _context(**changes: Any) -> AdapterContext:
    values: dict[str, Any] = {
        "name": "acme_fr",
        "base_url": "https://api.acme.invalid",
        "environment": "uat",
        "credentials": {"api_key": "canary-XYZ"},
        "options": {},
    }
    values.update(changes)
    return AdapterContext(**values)


def test_defaults_and_values_are_read() -> None:
    assert _Options.parse(None) == _Options()
    opts = _Options.parse({"page_size": 50, "status_overrides": {"Refusal": "refused"}})
    assert opts.page_size == 50 and opts.language == "en"
    assert opts.status_overrides["REFUSAL"] is CoverStatus.REFUSED


def test_an_unknown_option_is_refused_listing_the_known_ones() -> None:
    known = refused_with_known(lambda: _Options.parse({"page_sise": 5}), "page_sise")
    assert known == {"page_size", "language", "status_overrides"}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"page_size": 0}, "option page_size must be at least 1 and at most 100, got 0"),
        ({"page_size": True}, "page_size must be a whole number"),
        ({"status_overrides": {"X1": "NOPE"}}, "'X1' maps to 'NOPE', which is not a status"),
        ({"language": 3}, "option language: Input should be a valid string"),
    ],
)
def test_a_bad_value_is_one_config_error_line(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _Options.parse(raw, what="insurer 'acme_fr' (acme)")
    message = str(refused.value)
    assert message.startswith("insurer 'acme_fr' (acme): ") and "\n" not in message
    assert words in message


def test_the_model_is_frozen_and_forbids_extras_when_built_directly() -> None:
    opts = _Options()
    with pytest.raises(ValueError, match="frozen"):
        opts.page_size = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs"):
        _Options(page_sise=5)  # type: ignore[call-arg]


def test_from_context_checks_credentials_then_base_url_then_options() -> None:
    with pytest.raises(ConfigError) as missing:
        _Options.from_context(
            _context(credentials={"api_key": " "}),
            plugin="acme",
            kind="insurer",
            credentials=("api_key",),
        )
    assert str(missing.value) == (
        "insurer 'acme_fr' (acme) is missing credentials api_key: "
        "set TCI_INSURERS__ACME_FR__CREDENTIALS__API_KEY"
    )
    with pytest.raises(ConfigError, match="not a URL") as url:
        _Options.from_context(_context(base_url="ftp://x"), plugin="acme", kind="bureau")
    assert str(url.value).startswith("bureau 'acme_fr' (acme): ")
    opts = _Options.from_context(
        _context(options={"page_size": 7}), plugin="acme", kind="insurer", credentials=("api_key",)
    )
    assert opts.page_size == 7


def test_a_bureau_credential_is_read_from_the_bureaus_group() -> None:
    with pytest.raises(ConfigError) as missing:
        check_credentials(_context(credentials={}), ("key", "secret"), plugin="b", kind="bureau")
    message = str(missing.value)
    assert "TCI_BUREAUS__ACME_FR__CREDENTIALS__KEY, TCI_BUREAUS__ACME_FR__CREDENTIALS__SECRET" in (
        message
    )


def test_readers() -> None:
    assert whole_number("42", "n", text=True) == 42
    with pytest.raises(ValueError, match="whole number"):
        whole_number("42", "n")
    assert whole_number(0, "n", minimum=0, maximum=1) == 0
    assert flag("Yes", "f") is True and flag(False, "f") is False
    with pytest.raises(ValueError, match="true or false"):
        flag("maybe", "f")
    assert str(decimal_option("0.35", "d")) == "0.35"
    for bad in (True, "half", "NaN"):
        with pytest.raises(ValueError):
            decimal_option(bad, "d")


class _Sandbox:
    def __init__(self, *, clock: str = "now") -> None:
        self.clock = clock
        self.seeded: Any = None

    def seed(self, data: Any) -> None:
        self.seeded = data


def test_sandbox_factory_seeds_and_refuses_unknown_options() -> None:
    create = sandbox_factory(_Sandbox, what="acme sandbox")
    made = create({"clock": "then", "seed": {"buyers": []}})
    assert (made.clock, made.seeded) == ("then", {"buyers": []})
    assert create({}).seeded is None
    known = refused_with_known(lambda: create({"clok": "x"}), "clok")
    assert known == {"clock", "seed"}


# -- status overrides ------------------------------------------------------------------

_CODES = st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1)


@given(code=_CODES, status=st.sampled_from(list(CoverStatus)))
def test_a_code_is_found_whatever_its_case(code: str, status: CoverStatus) -> None:
    table = parse_status_overrides({code: status.value.lower()})
    for asked in (code, code.upper(), code.lower(), f"  {code.swapcase()} "):
        assert asked in table
        assert table[asked] is status
        assert table.get(asked) is status
    assert list(table) == [code_key(code)]


def test_status_overrides_one_rule() -> None:
    table = parse_status_overrides({"PartialAgreement": "APPROVED", "dc10": "Reduced"})
    assert table == {"partialagreement": CoverStatus.APPROVED, "dc10": CoverStatus.REDUCED}
    assert table["DC10"] is CoverStatus.REDUCED and "DC11" not in table
    assert parse_status_overrides(None) == {} and parse_status_overrides({}) == {}
    # the same code twice in different cases: one meaning is fine, two are refused
    assert parse_status_overrides({"DC01": "APPROVED", "dc01": "approved"}) == {
        "dc01": CoverStatus.APPROVED
    }
    with pytest.raises(ValueError, match="'DC01' and 'dc01' are the same code"):
        parse_status_overrides({"DC01": "APPROVED", "dc01": "REFUSED"})


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"Agreement": "NOPE"}, "'Agreement' maps to 'NOPE', which is not a status"),
        ({"AGREED": ""}, "which is not a status"),
        (["Agreement"], "must be a table"),
        ({" ": "APPROVED"}, "an empty code"),
    ],
)
def test_bad_status_overrides(raw: Any, words: str) -> None:
    with pytest.raises(ValueError, match="status_overrides") as refused:
        parse_status_overrides(raw)
    assert words in str(refused.value)


# -- countries -------------------------------------------------------------------------

_COUNTRIES = st.sampled_from(list(pycountry.countries))


@given(country=_COUNTRIES)
def test_alpha2_and_alpha3_round_trip(country: Any) -> None:
    a2, a3 = str(country.alpha_2), str(country.alpha_3)
    assert to_alpha3(a2) == a3 and to_alpha3(a3.lower()) == a3
    assert to_alpha2(a3) == a2 and to_alpha2(f" {a2.lower()} ") == a2
    assert find_alpha2(a3) == a2


@pytest.mark.parametrize("code", ["XX", "XXX", "FRA1", "", "F"])
def test_unknown_countries(code: str) -> None:
    assert find_alpha2(code) is None
    with pytest.raises(MappingError) as refused:
        to_alpha2(code, field="countryCode")
    assert refused.value.field == "countryCode"
    with pytest.raises(MappingError):
        to_alpha3(code)
    assert find_alpha2(None) is None


def test_vat_prefix_and_numbers() -> None:
    assert vat_prefix("GR") == "EL" and vat_prefix("gr") == "EL" and vat_prefix("FR") == "FR"
    assert vat_number("094 014.201", "GR") == "EL094014201"
    assert vat_number("EL094014201", "GR") == "EL094014201"
    assert vat_number("fr-40 303 265 045", "FR") == "FR40303265045"
    assert vat_number("B12345678", "ES") == "ESB12345678"  # a national number with a letter
    assert vat_number("DE123456789", "AT") == "DE123456789"  # kept as written
    assert vat_number("123", None) == "123"


@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=12), country=_COUNTRIES)
def test_a_national_vat_number_gets_the_country_prefix(digits: str, country: Any) -> None:
    number = vat_number(digits, str(country.alpha_2))
    assert number == vat_prefix(str(country.alpha_2)) + digits
    assert vat_number(number, str(country.alpha_2)) == number


def test_identifiers_are_validated_and_vat_numbers_completed() -> None:
    vat = find_identifier(Scheme.VAT, "40 303 265 045", "FR")
    assert vat == parse_identifier(Scheme.VAT, "FR40303265045")
    assert find_identifier(Scheme.VAT, "094014201", "GR") == parse_identifier(
        Scheme.VAT, "EL094014201"
    )
    assert find_identifier(Scheme.FR_SIREN, "123456782") == parse_identifier(
        Scheme.FR_SIREN, "123456782"
    )
    found, why = read_identifier(Scheme.FR_SIREN, "123456789")
    assert found is None and why
    assert find_identifier(Scheme.DUNS, "not a duns") is None


# -- mapping ---------------------------------------------------------------------------


def test_mapping_helpers() -> None:
    error = MappingError("decisionCode", "no decisionCode")
    assert isinstance(error, ValueError) and (error.field, error.reason) == (
        "decisionCode",
        "no decisionCode",
    )
    assert require(3, "x") == 3
    with pytest.raises(MappingError, match="no startDate") as missing:
        require(None, "startDate")
    assert missing.value.field == "startDate"
    assert money(Decimal("1.50"), "EUR") == Money(Decimal("1.50"), "EUR")
    with pytest.raises(MappingError) as bad:
        money(Decimal("1"), "ZZZ", "amount")
    assert bad.value.field == "amount"
    paris = datetime(2024, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert utc(paris) == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert utc(paris).tzinfo is UTC  # type: ignore[union-attr]
    assert utc(None) is None
    assert currency("EUR", "policyCurrency") == "EUR"
    for bad in ("eur", "ZZZ"):
        with pytest.raises(MappingError) as unknown:
            currency(bad, "policyCurrency")
        assert unknown.value.field == "policyCurrency"
