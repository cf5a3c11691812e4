""".env.example lists every setting, and the values it shows are the defaults."""

from __future__ import annotations

import re
from pathlib import Path

from karlo_core.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def setting_names() -> set[str]:
    """Each setting's environment variable: its alias where it has one, else KARLOQ_<NAME>."""
    names = set()
    for name, info in Settings.model_fields.items():
        aliases = getattr(info.validation_alias, "choices", None)
        names.add(str(aliases[0]) if aliases else f"KARLOQ_{name.upper()}")
    return names


def example_names() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def test_every_setting_is_in_env_example() -> None:
    assert sorted(setting_names() - example_names()) == []


def test_env_example_names_no_setting_that_does_not_exist() -> None:
    assert sorted(example_names() - setting_names()) == []


def test_the_values_env_example_shows_are_the_defaults() -> None:
    from_example = Settings(_env_file=ENV_EXAMPLE)  # empty values are ignored, as unset
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()
