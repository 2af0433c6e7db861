# syntax=docker/dockerfile:1
# One image for every pushmail app; the first argument selects it:
#   docker run pushmail gateway | watcher | fetcher | cli <command>
# Node 24 is an LTS line (maintained until April 2028); package.json's engines allow >=20.19.
ARG NODE_IMAGE=node:24-slim

# Production dependencies only, installed from the lockfile. Install scripts stay off: the only
# native module (msgpackr-extract, via BullMQ) ships prebuilt binaries and has a JS fallback.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Full toolchain for the build; nothing from this stage but dist/ reaches the runtime image.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Code stays owned by root and read-only for the app user: a compromised process cannot rewrite it.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY deploy/docker/entrypoint.sh /usr/local/bin/pushmail
# The node image's unprivileged user (uid 1000); Kubernetes manifests pin the same uid.
USER node
# gateway 3000, watcher 3001, fetcher 3002 (their default PORTs)
EXPOSE 3000 3001 3002
ENTRYPOINT ["/usr/local/bin/pushmail"]
CMD ["gateway"]
