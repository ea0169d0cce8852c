# The Handoff image: `handoff worker` by default; the same image runs the edges
# (`serve intake`, `serve mllp`, `serve web`) and the one-shot commands. Non-root,
# slim, on a base pinned by exact tag (pin it by digest at your site: see deploy/README.md).
# Built from the wheel, so the image holds exactly what `pip install` ships.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY handoff ./handoff
COPY pipeline ./pipeline
COPY connectors ./connectors
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 handoff \
 && useradd --system --uid 10001 --gid handoff --home-dir /var/lib/handoff --create-home --shell /usr/sbin/nologin handoff
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels handoff && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# What Handoff writes by default (.run/ under the working directory) stays in the data volume.
WORKDIR /var/lib/handoff
USER 10001:10001
# metrics + probes (worker), HTTP intake, MLLP, web
EXPOSE 9464 8470 2575 8480
ENTRYPOINT ["handoff"]
CMD ["worker"]
