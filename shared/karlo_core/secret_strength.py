"""Whether a secret is strong enough for production: long, varied, and no value anyone has seen in print."""

from __future__ import annotations

MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 12
#: Placeholders and defaults that appear in this project's examples, manifests and code, and the usual
#: suspects; a secret containing one of them is refused, however long.
KNOWN_PLACEHOLDERS = (
    "dev-only",
    "replace-me",
    "replaceme",
    "change-me",
    "changeme",
    "example",
    "secret",
    "password",
    "your-",
    "xxxxxxxx",
    "12345678",
)
#: How to make one.
HOW_TO_MAKE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def weakness(value: str) -> str | None:
    """Why ``value`` is too weak to guard production, or None when it is strong enough."""
    lowered = value.lower()
    found = next((p for p in KNOWN_PLACEHOLDERS if p in lowered), None)
    if found is not None:
        return f"it contains the known placeholder {found!r}"
    if len(value) < MIN_LENGTH:
        return f"it has {len(value)} characters; at least {MIN_LENGTH} are needed"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    return None
