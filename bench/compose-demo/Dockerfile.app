# The seeds' layer order, as a multi-stage build: system deps, then the deps
# list and its install (cached until deps.txt changes), then the code.
# Same packages and the same venv-less layout as examples/demo's `deps` and
# `app` images (python.app copies backend/ to /app/backend/).

# ---- deps stage: only deps.txt is an input ----
FROM demo-base:bench AS deps
ENV DEBIAN_FRONTEND=noninteractive
COPY deps.txt /tmp/deps.txt
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends $(grep -v '^#' /tmp/deps.txt) \
 && rm -rf /var/lib/apt/lists/*

# ---- runtime stage: the code (editing backend/ rebuilds only this) ----
FROM deps AS app
WORKDIR /app
COPY backend/ /app/backend/
EXPOSE 8000
