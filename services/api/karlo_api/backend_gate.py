"""Which backend a new job goes to, and a 422 for anything that backend cannot do, before the job exists.

The check reads the fields the caller sent (not the defaults Karlo's rules fill in), so a job on open Karlo
that names a negative prompt, a size other than its own, a model version or a hosted-only option is refused
with the backend's name and limits, while the same job without them is accepted.
"""

from __future__ import annotations

from typing import Any

from karlo_api.problems import invalid_input
from karlo_core.backends.catalogue import BackendSpec, UnsupportedByBackend, enabled_specs, refusals
from karlo_core.settings import Settings


class BackendGate:
    def __init__(self, settings: Settings) -> None:
        self._specs = enabled_specs(settings)
        self._default = settings.default_backend

    @property
    def specs(self) -> list[BackendSpec]:
        """The enabled backends, the default first."""
        return list(self._specs.values())

    def admit(self, raw: dict[str, Any]) -> tuple[dict[str, Any], BackendSpec]:
        """The request with the fields the backend fixes taken out (they were checked), and the backend."""
        spec = self.chosen(raw.get("backend"))
        kind, values = raw.get("kind", "generate"), raw.get("input")
        if not isinstance(kind, str) or not isinstance(values, dict):
            return raw, spec  # the request's own validation names what is wrong
        refused = refusals(spec, kind, values)
        if refused:
            raise UnsupportedByBackend(spec, refused)
        kept = {name: value for name, value in values.items() if name not in spec.fixed}
        return {**raw, "input": kept}, spec

    def chosen(self, name: object) -> BackendSpec:
        """The backend a job names (the default when it names none); a 422 when it is not enabled."""
        if name is None:
            return self._specs[self._default]
        if isinstance(name, str) and name in self._specs:
            return self._specs[name]
        enabled = ", ".join(self._specs)
        raise invalid_input(
            [{"field": "backend", "rule": "backend_enabled", "message": f"must be an enabled backend: {enabled}"}]
        )
