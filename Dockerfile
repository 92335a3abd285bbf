# adreview: API, CPU workers and the vLLM-backed GPU worker all run this image.
#   docker build -t adreview .                          # RapidOCR (embedded) and HTTP engines
#   docker build --build-arg EXTRAS=hunyuan -t adreview .  # plus torch/transformers HunyuanOCR
FROM python:3.11-slim

# fonts-noto-cjk: CJK fonts for drawing evidence (annotate) and sample ads;
# libgl1/libglib2.0-0: OpenCV, used by RapidOCR's pre-processing.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY worker ./worker
COPY rules ./rules
COPY models ./models

ARG EXTRAS=""
RUN pip install ".${EXTRAS:+[$EXTRAS]}"

RUN useradd --create-home --uid 10001 adreview && mkdir -p /data && chown adreview /data
USER adreview
WORKDIR /data

EXPOSE 8000
CMD ["adreview", "--help"]
