# syntax=docker/dockerfile:1
FROM golang:1.22 AS build
WORKDIR /src
RUN --mount=type=bind,target=. \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -o /bin/app ./...
FROM scratch
COPY --from=build /bin/app /bin/app
