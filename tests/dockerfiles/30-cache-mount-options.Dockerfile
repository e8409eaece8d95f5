FROM node:20
WORKDIR /app
RUN --mount=type=cache,id=npm-${TARGETARCH},target=/root/.npm,sharing=private,mode=0777,uid=1000,gid=1000 npm ci
RUN --mount=type=cache,target=/tmp/cache,from=alpine:3.19,source=/etc ls /tmp/cache
