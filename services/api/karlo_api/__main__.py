"""``python -m karlo_api``: serve the API with uvicorn on KARLOQ_API_HOST:KARLOQ_API_PORT.

What exists once the application is built (modules, the app, its routes and models: some 115,000 objects) is
moved out of the garbage collector's reach (``gc.freeze``) before serving: it lives as long as the process, and
every full collection under load traversed all of it again (about 70 ms of CPU each on the benchmark machine,
some 25 us of CPU per accepted job, and a stall for every request in flight; docs/benchmarks.md, "Accepting a
job").
Objects made afterwards are collected as before.
"""

from __future__ import annotations

import gc

import uvicorn

from karlo_api.app import create_app
from karlo_core.logs import configure_logging
from karlo_core.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    gc.collect()  # nothing that is garbage now is frozen (a frozen object is never collected)
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
