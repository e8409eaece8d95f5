FROM alpine:3.19
RUN --network=none echo offline
RUN --network=host apk add --no-cache curl
RUN --security=insecure echo privileged
