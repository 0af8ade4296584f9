# The API as docker-compose.yml runs it: compiled JavaScript on plain node (no dev runner).
# Stage 1 compiles with the dev dependencies; stage 2 carries only what runs.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
# Dependencies first, so a code change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Applied at start-up, so they ship with the code (src/db/migrate.ts finds them beside dist/).
COPY migrations ./migrations
# The OTLP and remote-write decoders load these .proto files at start-up.
COPY proto ./proto

ENV PORT=4000 HOST=0.0.0.0
EXPOSE 4000
USER node
CMD ["node", "dist/main.js"]
