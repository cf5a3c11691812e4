"""What a prompt may hold: some text, no control characters, and (for Karlo) English only."""

from __future__ import annotations

import unicodedata

from pydantic_core import PydanticCustomError

#: JSON Schema (ECMA-262) form of :func:`check_prompt_text`: no C0/C1 control character, one non-space at least.
PROMPT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
#: JSON Schema form of :func:`check_no_control_characters`.
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


def control_characters(text: str, *, limit: int = 5) -> list[str]:
    """Control characters (Unicode category Cc: NUL, tab, newline, DEL, ...) in ``text``, each once."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char) == "Cc" and char not in found:
            found.append(char)
            if len(found) == limit:
                break
    return found


def check_no_control_characters(text: str) -> str:
    """Refuses (as a pydantic error naming their code points) text holding control characters."""
    controls = control_characters(text)
    if controls:
        names = ", ".join(f"U+{ord(c):04X}" for c in controls)
        message = "must not contain control characters (found {found})"
        raise PydanticCustomError("control_character", message, {"found": names})
    return text


def check_prompt_text(text: str) -> str:
    """A prompt with nothing but spaces, or with a control character, is refused (as a pydantic error)."""
    check_no_control_characters(text)
    if not text.strip():
        raise PydanticCustomError("blank", "must contain text, not only spaces")
    return text


def non_english_characters(text: str, *, limit: int = 5) -> list[str]:
    """Letters outside the Latin script (Hangul, Han, Cyrillic, ...), each once; digits, punctuation pass."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char).startswith("L") and not unicodedata.name(char, "").startswith("LATIN"):
            if char not in found:
                found.append(char)
            if len(found) == limit:
                break
    return found


def describe_characters(chars: list[str]) -> str:
    """``['м', 'я']`` -> ``'м', 'я' (Cyrillic)``: each character quoted on its own, then the scripts they are from."""
    scripts: list[str] = []
    for char in chars:
        word = unicodedata.name(char, "UNKNOWN").split(" ")[0]
        script = word if word == "CJK" else word.capitalize()
        if script not in scripts:
            scripts.append(script)
    return ", ".join(f"'{c}'" for c in chars) + f" ({', '.join(scripts)})"
