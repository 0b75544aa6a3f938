# Node.js 24 (LTS; Node 20 reached its end of life in April 2026). package.json "engines" lists
# the versions the bridge supports; CI runs the test suite under Node 20 and 24.
# Build stage: the same commands CI runs (npm ci, then the TypeScript build).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY adapters ./adapters
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled code and production dependencies only, as the unprivileged node user.
FROM node:24-bookworm-slim
# HOST: a container's own interfaces; what reaches them is the port mapping's business (the
# sandbox would otherwise listen on the container's loopback only, out of the mapping's reach).
ENV NODE_ENV=production HOST=0.0.0.0
# V8's old generation capped at 128 MB: V8 then collects before it grows the heap, which keeps a
# busy bridge under ~150 MB RSS; its live heap is ~35 MB (bench/README.md, "Memory"). For bare
# metal, README "Deployment" says to set the same.
ENV NODE_OPTIONS=--max-old-space-size=128
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/bin ./bin
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/blinger-bridge.js"]
CMD ["start"]
