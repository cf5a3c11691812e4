# One image for the API and the workers: the command picks the role (see deploy/k8s/).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY tools tools
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app karloq
COPY --from=build /install /usr/local
USER 10001
WORKDIR /app
ENV PYTHONUNBUFFERED=1 KARLOQ_ENV=production KARLOQ_API_HOST=0.0.0.0
EXPOSE 8000 9102
CMD ["python", "-m", "karlo_api"]
