# The Handoff workers and tools. Sites with Docker run it through docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY connectors ./connectors
COPY schemas ./schemas
RUN pip install --no-cache-dir .
USER 10001
ENTRYPOINT ["handoff"]
CMD ["--help"]
