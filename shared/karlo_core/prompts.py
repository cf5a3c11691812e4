"""Karlo understands English prompts only: find the characters that are not."""

from __future__ import annotations

import unicodedata


def non_english_characters(text: str, *, limit: int = 5) -> str:
    """Letters outside the Latin script (Hangul, Han, Cyrillic, ...); digits, punctuation and symbols pass."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char).startswith("L") and not unicodedata.name(char, "").startswith("LATIN"):
            if char not in found:
                found.append(char)
            if len(found) == limit:
                break
    return "".join(found)
