# Calmwatch service image: the wheel and its serving dependencies only (ONNX Runtime, no torch). The model
# artifact and the default rule pack are inside the wheel, so nothing is downloaded at run time.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY models/artifact ./models/artifact
COPY rules ./rules
# monitor/scoring/artifact_files and monitor/default_rules are symlinks to models/artifact and rules: the build
# follows them and puts the files in the wheel.
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
RUN useradd --create-home calmwatch
USER calmwatch
WORKDIR /home/calmwatch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["calmwatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
