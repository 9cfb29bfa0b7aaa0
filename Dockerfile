# The threadwatch image: one image for both processes of a deployment, the API
# (`threadwatch serve`) and the run workers (`threadwatch worker`); docker-compose.yml
# builds it and picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
# [langgraph]: the workers execute the graphs of a langgraph.json (mounted at /app/graphs).
# Graphs that need more packages: build FROM this image and pip install them.
RUN pip install '.[langgraph]'

# Not root; /app/graphs is where compose mounts the graphs folder (read-only).
RUN useradd --create-home --uid 10001 threadwatch \
    && mkdir -p /app/graphs \
    && chown threadwatch /app/graphs
USER threadwatch

EXPOSE 8123
CMD ["threadwatch", "serve", "--host", "0.0.0.0", "--port", "8123"]
