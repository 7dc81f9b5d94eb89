# sluice worker image: build the wheel with `python -m build`, install it into a slim
# runtime image, run as a non-root user. Build from the repository root:
#   docker build -t sluice:0.1.0 .
FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir "build==1.2.2.post1"
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY deploy/local/kafka/pom.xml ./deploy/local/kafka/pom.xml
RUN python -m build --wheel --outdir /dist

FROM python:3.11.10-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SLUICE_DATA_DIR=/var/lib/sluice \
    SLUICE_METRICS_PORT=9464
COPY --from=build /dist/*.whl /tmp/wheels/
RUN pip install --no-cache-dir "$(ls /tmp/wheels/*.whl)[worker]" \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --create-home sluice
USER 10001:10001
WORKDIR /var/lib/sluice
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["sluice"]
CMD ["run"]
