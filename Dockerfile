# syntax=docker/dockerfile:1
# IRIS Health API and CLI. Build: docker build -t iris-health .
# package.json asks for node >= 20.19; pin the minor for reproducible images.
ARG NODE_IMAGE=node:20.20-bookworm-slim

# --- build: dev dependencies, TypeScript compile -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are copied; the build runs below.
RUN npm ci --ignore-scripts
COPY . .
# reference-data/ is optional in the source tree; the runtime stage copies it unconditionally.
RUN npm run build && mkdir -p reference-data

# --- runtime: production dependencies only, non-root ---------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# V8's heap, sized for the server (docs/operations.md, "Memory"): a 384 MB ceiling on the old
# generation keeps it near 300 MB resident under load, a 32 MB young generation spends less
# time collecting. Raise the ceiling here if you need to.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    IRIS_DATA_DIR=/app/data \
    NODE_OPTIONS="--max-old-space-size=384 --max-semi-space-size=32"
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: argon2 loads its bundled prebuilt binary (linux glibc x64/arm64) without them.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/reference-data ./reference-data
# Writable only where the process writes: its data dir and the keyring mount point (a named
# volume mounted on /keys starts with this owner and mode).
RUN mkdir -p /app/data /keys && chown node:node /app/data /keys && chmod 0700 /keys
USER node
EXPOSE 8080
# Slim images have no curl; Node's fetch does the probe. Ready means DB, storage and disk answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health/ready', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/iris.js"]
CMD ["serve"]
