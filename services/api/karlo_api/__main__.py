"""``python -m karlo_api``: serve the API with uvicorn on KARLOQ_API_HOST:KARLOQ_API_PORT."""

from __future__ import annotations

import uvicorn

from karlo_api.app import create_app
from karlo_core.logs import configure_logging
from karlo_core.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
