"""The pool of fake users who rate movies."""

from __future__ import annotations

from faker import Faker


def user_pool(size: int, seed: int | None = None, locale: str = "en_US") -> list[str]:
    """`size` distinct Faker names; the same seed gives the same pool."""
    if size < 1:
        raise ValueError(f"user pool size must be at least 1, got {size}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    names: dict[str, None] = {}
    attempts = 0
    while len(names) < size:
        names[fake.name()] = None
        attempts += 1
        if attempts > size * 100:
            raise ValueError(f"could not draw {size} distinct names from Faker locale {locale}")
    return list(names)
