"""The baseline of the accept benchmark: a bare FastAPI app whose ``POST /v1/jobs`` does one Redis ``LPUSH``
(redis.asyncio) and answers 202, served by uvicorn as the API is. ``python -m bench.bare_accept PORT REDIS_URL``."""

from __future__ import annotations

import json
import sys
import uuid

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def make_app(redis_url: str) -> FastAPI:
    app = FastAPI()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)

    @app.post("/v1/jobs")
    async def accept(request: Request) -> JSONResponse:
        body = await request.json()
        job_id = uuid.uuid4().hex
        await client.lpush("bare:jobs", json.dumps({"id": job_id, "body": body}))
        return JSONResponse({"id": job_id, "status": "queued"}, status_code=202)

    return app


if __name__ == "__main__":
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(make_app(redis_url), host="127.0.0.1", port=port, log_config=None, access_log=False)
