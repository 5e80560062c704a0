# The one image for web (gunicorn), the Celery workers, beat and migrate (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=server.config.settings.production \
    STATIC_ROOT=/app/static
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY dispatch ./dispatch
COPY notifications ./notifications
COPY mobile ./mobile
RUN pip install --no-cache-dir .
# Static files (the admin's, Swagger UI's) are collected here, at build time, into STATIC_ROOT:
# owned by root, read-only for the app, served by whitenoise from the web process. The settings
# refuse to load without SECRET_KEY when DEBUG is off; this throwaway value exists for this one
# command only (collectstatic signs nothing) and is not in the image's environment.
RUN SECRET_KEY=build-only-collectstatic-signs-nothing-never-used-at-run-time \
    python server/manage.py collectstatic --noinput
# The app runs as a user of its own; /app/var is the one folder it may write (beat's schedule,
# the job photos in /app/var/media).
RUN useradd --system --no-create-home --home-dir /app/var --shell /usr/sbin/nologin fixroute \
    && mkdir -p /app/var/media \
    && chown -R fixroute:fixroute /app/var
USER fixroute
EXPOSE 8000
CMD ["gunicorn", "server.config.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
