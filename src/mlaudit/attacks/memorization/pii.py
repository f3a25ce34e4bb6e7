"""Personal data in generated text, checked where a checksum or a rule exists, so that a random digit
string is not reported as someone's number:

- US social security numbers ddd-dd-dddd (or with spaces), valid by the SSA's rules: area not 000, 666
  or 900-999, group not 00, serial not 0000;
- payment card numbers of 13-19 digits (spaces or dashes between groups) that pass the Luhn checksum;
- e-mail addresses (a local part, @, a domain with a dot and a 2+ letter top level);
- North American phone numbers ((ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd, +1 prefix), valid by the
  NANP's rules: area code and exchange start with 2-9.

Hand-written: Presidio, the maintained recogniser, needs a spaCy language model that the package
registries do not ship; these rules are Presidio's pattern recognisers' checks for the same kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SSN = re.compile(r"(?<!\d)(\d{3})[- ](\d{2})[- ](\d{4})(?!\d)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[ .-]?)?(?:\((\d{3})\)\s?|(\d{3})[ .-])(\d{3})[ .-](\d{4})(?![\d-])")


@dataclass(frozen=True)
class PII:
    kind: str  # ssn | card | email | phone
    text: str


def valid_ssn(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def luhn(digits: str) -> bool:
    """The Luhn checksum (ISO/IEC 7812) of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pii(text: str) -> list[PII]:
    """Every valid SSN, card number, e-mail address and phone number in `text`, in order of kind."""
    out = [PII("ssn", m.group(0)) for m in _SSN.finditer(text) if valid_ssn(*m.groups())]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn(digits):
            out.append(PII("card", m.group(0)))
    out += [PII("email", m.group(0)) for m in _EMAIL.finditer(text)]
    for m in _PHONE.finditer(text):
        area, exchange = m.group(1) or m.group(2), m.group(3)
        if area[0] in "23456789" and exchange[0] in "23456789" and not _SSN.fullmatch(m.group(0).strip()):
            out.append(PII("phone", m.group(0).strip()))
    return out
