# The API as docker-compose.yml runs it: `npm start` (tsx runs the TypeScript directly).
FROM node:20-slim

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. tsx, which `npm start` uses,
# is a devDependency: install them all (NODE_ENV is only set at run time, by compose).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
# Applied at start-up, so they ship with the code.
COPY migrations ./migrations

ENV PORT=4000 HOST=0.0.0.0
EXPOSE 4000
USER node
CMD ["npm", "start"]
