from __future__ import annotations

import pytest

from tci_gateway.domain.identifiers import Scheme, parse_identifier
from tci_gateway.domain.parties import Buyer, ErpAccount, PartyError, same_legal_entity


def test_buyer_knows_its_insurer_ids() -> None:
    siren = parse_identifier(Scheme.FR_SIREN, "552100554")
    atr = parse_identifier(Scheme.INSURER, "100003", "atradius")
    buyer = Buyer("SGN", "FR", frozenset({siren, atr}))
    assert buyer.insurer_id("atradius") == "100003"
    assert buyer.insurer_id("coface") is None


@pytest.mark.parametrize(("name", "country"), [("", "FR"), ("SGN", "fr"), ("SGN", "FRA")])
def test_buyer_invariants(name: str, country: str) -> None:
    with pytest.raises(PartyError):
        Buyer(name, country)


def test_accounts_and_legal_entities() -> None:
    with pytest.raises(PartyError):
        ErpAccount(" ", "x")
    siren = parse_identifier(Scheme.FR_SIREN, "552100554")
    vat = parse_identifier(Scheme.VAT, "FR40303265045")
    assert same_legal_entity([siren], [siren, vat])
    assert not same_legal_entity([siren], [vat])
