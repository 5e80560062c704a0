FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY dispatch ./dispatch
COPY notifications ./notifications
COPY mobile ./mobile
RUN pip install --no-cache-dir .
RUN useradd --system fixroute
USER fixroute
EXPOSE 8000
