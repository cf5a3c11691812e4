"""``python -m karlo_sim``: serve the Karlo simulator on KARLO_SIM_HOST:KARLO_SIM_PORT."""

from __future__ import annotations

import uvicorn

from karlo_sim.app import create_app
from karlo_sim.config import SimSettings


def main() -> None:
    settings = SimSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
