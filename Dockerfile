# Program Builder service image: small, non-root; the wheel carries the migrations and the
# AsyncAPI page (MIGRATIONS_DIR can still point elsewhere).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY contracts ./contracts
COPY service ./service
COPY devstack ./devstack
COPY migrations ./migrations
COPY tooling/kafka/pom.xml ./tooling/kafka/pom.xml
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --constraint constraints.txt --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --system --uid 10001 --no-create-home program-builder
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV LOG_FORMAT=json \
    HTTP_PORT=8080 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER program-builder
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 204 else 1)"
ENTRYPOINT ["program-builder"]
CMD ["run"]
