"""Stripe's test cards, the ones billing tests use, and how a typed card is checked.

A card can fail when it is saved (attached) or only when it is charged: 4000 0000 0000 0341 is saved
fine and then every charge is declined, so Checkout refuses it when there is something to pay now (the
first invoice), and accepts it when nothing is due (only metered prices), exactly like Stripe. Any other
number that passes the Luhn check is refused as a live card used in test mode.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import card_error, card_input_error


@dataclass(frozen=True)
class KnownCard:
    brand: str
    funding: str = "credit"
    attach_decline: str | None = None  # decline code when saving the card
    charge_decline: str | None = None  # decline code of every charge


CARDS = {
    "4242424242424242": KnownCard("visa"),
    "4000056655665556": KnownCard("visa", "debit"),
    "5555555555554444": KnownCard("mastercard"),
    "378282246310005": KnownCard("amex"),
    "4000000000000341": KnownCard("visa", charge_decline="generic_decline"),
    "4000000000000002": KnownCard("visa", attach_decline="generic_decline", charge_decline="generic_decline"),
    "4000000000009995": KnownCard("visa", charge_decline="insufficient_funds"),
    "4000000000009987": KnownCard("visa", attach_decline="lost_card", charge_decline="lost_card"),
    "4000000000000069": KnownCard("visa", attach_decline="expired_card", charge_decline="expired_card"),
    "4000000000000127": KnownCard("visa", attach_decline="incorrect_cvc", charge_decline="incorrect_cvc"),
    "4000000000000119": KnownCard("visa", attach_decline="processing_error", charge_decline="processing_error"),
}


@dataclass(frozen=True)
class TypedCard:
    number: str
    exp_month: int
    exp_year: int
    card: KnownCard

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


def luhn(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def check(number: str, expiry: str, cvc: str, now: int) -> TypedCard:
    """A typed card, or the card_error Stripe would give for it (number, then expiry, then CVC)."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn(digits):
        raise card_input_error("incorrect_number", "Your card number is incorrect.", "number")
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", expiry or "")
    if not match or not 1 <= int(match.group(1)) <= 12:
        raise card_input_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    month, year = int(match.group(1)), int(match.group(2))
    year += 2000 if year < 100 else 0
    today = datetime.fromtimestamp(now, timezone.utc)
    if (year, month) < (today.year, today.month):
        raise card_input_error("invalid_expiry_year", "Your card's expiration year is in the past.", "exp_year")
    if not re.fullmatch(r"\d{3,4}", (cvc or "").strip()):
        raise card_input_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
    card = CARDS.get(digits)
    if card is None:
        raise card_error("live_mode_test_card")
    return TypedCard(digits, month, year, card)
