FROM --platform=linux/amd64 alpine:3.19 AS amd
RUN uname -m
FROM --platform=$TARGETPLATFORM alpine:3.19
COPY --from=amd /etc/os-release /amd-os-release
