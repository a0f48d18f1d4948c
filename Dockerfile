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
USER node
EXPOSE 8080
CMD ["node", "--max-semi-space-size=4", "--max-old-space-size=256", "dist/src/server.js"]
