# Slim, non-root image of the dose-finding decision service.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md Makefile ./
COPY proto ./proto
COPY server ./server
COPY client ./client
COPY validation ./validation
RUN pip install --no-cache-dir grpcio-tools==1.85.1 \
 && mkdir -p client/dosefinding/v1 \
 && python -m grpc_tools.protoc -I proto --python_out=client --pyi_out=client --grpc_python_out=client proto/dosefinding/v1/*.proto \
 && touch client/dosefinding/__init__.py client/dosefinding/v1/__init__.py \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/dosefinding --create-home dosefinding
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER dosefinding
WORKDIR /var/lib/dosefinding
VOLUME ["/var/lib/dosefinding"]
EXPOSE 50051
# TLS (and callers) come from a mounted configuration file, e.g. -v ./etc:/etc/dosefinding:ro;
# the health probe uses a plaintext port on the container's loopback only. Set DOSEFINDING_WORKERS
# to the number of cores the container gets (one serving process per core).
ENV DOSEFINDING_DATA_DIR=/var/lib/dosefinding \
    DOSEFINDING_WORKERS=1 \
    DOSEFINDING_LISTEN=0.0.0.0:50051 \
    DOSEFINDING_PROBE_LISTEN=127.0.0.1:50052 \
    DOSEFINDING_CONFIG=/etc/dosefinding/server.toml
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import grpc, sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; s = g.HealthStub(grpc.insecure_channel('127.0.0.1:50052')).Check(h.HealthCheckRequest(), timeout=3); sys.exit(0 if s.status == h.HealthCheckResponse.SERVING else 1)"]
ENTRYPOINT ["dosefinding-server"]
