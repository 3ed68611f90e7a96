"""Company names compared (docs/domain.md, section 2): NFKC, case folding, legal forms
stripped, rapidfuzz; Chinese script compared as written, never through a romanisation.
Pure, no I/O; :mod:`tci_gateway.domain.identity` uses them to propose links."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

# Legal-form words stripped before names are compared (after NFKC and case folding,
# punctuation removed). Kept short on purpose: words that are also real name parts
# ("group", "holding", "international") stay.
_LEGAL_FORMS = frozenset(
    {
        "ab",
        "ag",
        "aps",
        "as",
        "asa",
        "bv",
        "bvba",
        "cv",
        "co",
        "company",
        "corp",
        "corporation",
        "cvba",
        "doo",
        "ehf",
        "eirl",
        "eood",
        "eurl",
        "gmbh",
        "gie",
        "inc",
        "incorporated",
        "kft",
        "kg",
        "kgaa",
        "kk",
        "lda",
        "limited",
        "llc",
        "llp",
        "lp",
        "ltd",
        "ltda",
        "nv",
        "oao",
        "ohg",
        "ooo",
        "oy",
        "oyj",
        "pjsc",
        "plc",
        "pte",
        "pty",
        "sa",
        "saa",
        "sab",
        "sae",
        "sarl",
        "sas",
        "sasu",
        "sca",
        "scs",
        "se",
        "sl",
        "sll",
        "slne",
        "slu",
        "snc",
        "spa",
        "sprl",
        "srl",
        "sro",
        "sp",
        "zoo",
        "ug",
        "vof",
        "zao",
        "mbh",
    }
)
_CJK_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司")
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")  # "b.v." -> "bv", "s.a.r.l." -> "sarl"
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a character of Chinese script."""
    return any(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"
        for ch in text
    )


def normalise_name(name: str) -> str:
    """A name reduced for comparison: NFKC, case folded, punctuation and legal forms
    removed. Chinese script is kept as written (legal-form suffixes such as 有限公司
    removed)."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    if has_cjk(text):
        text = re.sub("[\\s()\uff08\uff09\u00b7.,\uff0c]+", "", text)
        for suffix in _CJK_LEGAL_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                break
        return text
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    words = [w for w in _NON_WORD.sub(" ", text).split() if w and w not in _LEGAL_FORMS]
    return " ".join(words)


def name_score(a: str, b: str) -> float:
    """Similarity 0-100 of two company names (see :func:`normalise_name`)."""
    na, nb = normalise_name(a), normalise_name(b)
    if not na or not nb:
        return 0.0
    cjk_a, cjk_b = has_cjk(na), has_cjk(nb)
    if cjk_a != cjk_b:
        return 0.0  # never through a romanisation
    if cjk_a:
        return float(fuzz.ratio(na, nb))
    if _numbers(na) != _numbers(nb):
        return 0.0  # "Holding 1" and "Holding 2" are two companies, however alike
    return float(fuzz.token_sort_ratio(na, nb))


def _numbers(name: str) -> set[str]:
    return {w for w in name.split() if any(ch.isdigit() for ch in w)}


def name_tokens(name: str) -> set[str]:
    """The tokens a name is blocked on (:func:`tci_gateway.domain.identity.resolve`): its
    normalised words longer than two characters, or the first two characters of a Chinese
    name; none for a name that normalises to nothing."""
    normal = normalise_name(name)
    if not normal:
        return set()
    return {normal[:2]} if has_cjk(normal) else {w for w in normal.split() if len(w) > 2}
