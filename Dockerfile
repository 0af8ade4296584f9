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
# Two malloc arenas (glibc's default is up to eight per core): the embedded engine runs on a
# thread of its own (#16), and each thread that allocates gets an arena that keeps what it
# freed. bench:abuse on the embedded engine: 424 MB at rest and 555 MB at peak without it,
# 387 and 512 MB with it.
ENV MALLOC_ARENA_MAX=2
# A fixed trim threshold: glibc gives freed memory at the top of a heap back above 128 KB, and
# setting it turns off the sliding threshold that let large freed blocks (compiling the engine's
# WebAssembly, reading its files) stay in the arenas. bench:abuse, embedded, two runs each in one
# session: peak 478 and 456 MB without it, 441 and 434 MB with it.
ENV MALLOC_TRIM_THRESHOLD_=131072
EXPOSE 4000
USER node
# How far V8 grows its heap past what a full collection kept is chosen at start by engine
# (src/ops/heap.ts): 20 % on the embedded engine, whose process must also hold the engine's
# memory (#16), and 50 % on PostgreSQL, where 20 % cost ingestion half again as much CPU per
# point (#13). Not a hard cap either way: a cap would end the process.
# One V8 worker thread (--v8-pool-size=1, default 4): the embedded engine's WebAssembly is
# compiled on those threads at start-up, and each kept what it had compiled with in a malloc
# arena of its own, never given back: an idle service took 432-459 MB with four and 330-334 MB
# with one (#16). Garbage collection keeps one helper beside the main thread, which is what a
# two-core host gives it anyway.
# A young generation of 8 MB semi-spaces instead of 16 (--max-semi-space-size=8): under the
# widest pages most of the heap in use was garbage not yet collected (a heap snapshot during a
# dense 200 000-cell answer held 55 MB reachable while /metrics said 110-128 MB in use).
# bench:abuse on the embedded engine peaked at 512-525 MB with 16 and 464 MB with 8 (#16).
# Scavenges are more frequent: with a database server, where memory is not that tight,
# docker-compose.yml runs this CMD with 32 (README, production settings).
CMD ["node", "--max-semi-space-size=8", "--v8-pool-size=1", "dist/main.js"]
