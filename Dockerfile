FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY questionnaires ./questionnaires
COPY fhir-resources ./fhir-resources
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY questionnaires ./questionnaires
COPY fhir-resources ./fhir-resources
# The web pages' scripts and styles (LHC-Forms itself comes with node_modules).
COPY web ./web
COPY README.md ./
COPY package.json ./
COPY scripts ./scripts
# The audit trail and an embedded database (when DATABASE_URL is not set) live here.
RUN mkdir -p /app/data/audit && chown -R node:node /app/data
USER node
EXPOSE 8080
# Ready = database reachable, rules and validators loaded, not shutting down (GET /readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form): readiness 503, requests finish, the pool closes, exit 0.
# Node options as in `npm start` (a small young generation keeps the resident size down).
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=256", "dist/src/server.js"]
