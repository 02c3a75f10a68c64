# Calmwatch service image. The model artifact is in the repo; the base encoder comes from a PyPI package,
# so nothing is downloaded at run time.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# CPU-only torch, pinned (the default wheel on PyPI is a multi-GB CUDA build).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY models ./models
COPY rules ./rules
# Editable, as in the checkout: the service finds models/artifact and rules/ next to the package (/app).
RUN pip install -e .
RUN useradd --create-home calmwatch
USER calmwatch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["calmwatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
