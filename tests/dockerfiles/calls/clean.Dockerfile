# syntax=docker/dockerfile:1
FROM busybox AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache echo ok
FROM scratch
COPY --from=build /src /out
ENTRYPOINT ["/out/app"]
