# One image for the API and the workers: the command picks the role (see deploy/k8s/). The default target is
# the hosted-Karlo image; `docker build --target gpu -t karlo-queue:gpu .` adds the model stack (torch with its
# CUDA libraries, diffusers) for open Karlo workers on GPU nodes (deploy/k8s/gpu/). Neither holds weights.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY tools tools
RUN pip install --no-cache-dir --prefix=/install .

FROM build AS build-gpu
RUN pip install --no-cache-dir --prefix=/install ".[model]"

FROM python:3.11-slim AS gpu
RUN useradd --system --uid 10001 --home-dir /app karloq
COPY --from=build-gpu /install /usr/local
USER 10001
WORKDIR /app
# HF_HUB_OFFLINE: weights are read from the mounted volume only, never fetched.
ENV PYTHONUNBUFFERED=1 KARLOQ_ENV=production HF_HUB_OFFLINE=1 HF_HOME=/tmp/hf KARLOQ_WORKER_QUEUES=karlo-open
EXPOSE 9102
CMD ["python", "-m", "karlo_worker"]

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app karloq
COPY --from=build /install /usr/local
USER 10001
WORKDIR /app
ENV PYTHONUNBUFFERED=1 KARLOQ_ENV=production KARLOQ_API_HOST=0.0.0.0
EXPOSE 8000 9102
CMD ["python", "-m", "karlo_api"]
