# labdeck for a lab server: `docker build -t labdeck .` then
#   docker run -p 8888:8888 -v labdeck-data:/data labdeck
# The image listens on all addresses inside the container, so its configuration
# (deploy/labdeck.toml, at /etc/labdeck/labdeck.toml) asks for login; add the first user with
#   docker run --rm -it -v labdeck-data:/data labdeck user add NAME --role admin
# See docs/howto/deploy.md.

# -- 1: the dashboard's browser assets, from the npm registry ------------------------------
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY ui/package.json ui/package-lock.json ui/build.mjs ui/
RUN npm --prefix ui ci --no-audit --no-fund --loglevel=error
COPY src/labdeck/ui/static src/labdeck/ui/static
RUN npm --prefix ui run build

# -- 2: the wheel, with those assets in it ---------------------------------------------------
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
RUN pip install --no-cache-dir build setuptools-scm
COPY . .
COPY --from=assets /src/src/labdeck/ui/static/vendor src/labdeck/ui/static/vendor
# No .git in the build context: the version comes from SETUPTOOLS_SCM_PRETEND_VERSION if given.
ARG LABDECK_VERSION=0.1.0
RUN SETUPTOOLS_SCM_PRETEND_VERSION=${LABDECK_VERSION} python -m build --wheel --outdir /dist .

# -- 3: the runtime: a slim Python, labdeck, a non-root user, data in a volume -------------------
FROM python:3.11-slim-bookworm
COPY --from=wheel /dist/*.whl /tmp/
# With the drivers of a scale-out (Redis broker, PostgreSQL store) and uvloop.
RUN pip install --no-cache-dir "$(echo /tmp/*.whl)[redis,postgres,fast]" && rm /tmp/*.whl \
    && useradd --system --home-dir /data --create-home --uid 10001 labdeck
COPY deploy/labdeck.toml /etc/labdeck/labdeck.toml
USER labdeck
WORKDIR /data
VOLUME /data
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import json, urllib.request as u; \
h = json.load(u.urlopen('http://127.0.0.1:8888/healthz', timeout=4)); raise SystemExit(h['status'] != 'ok')"
ENV LABDECK_CONFIG=/etc/labdeck/labdeck.toml
ENTRYPOINT ["labdeck"]
CMD ["serve", "--config", "/etc/labdeck/labdeck.toml"]
