ARG VERSION=1
ARG EMPTY
FROM busybox:${VERSON} AS typo
FROM busybox${EMPTY} AS empty
FROM busybox:${NOPE:-latest} AS defaulted
FROM ${BUILDOS:+busybox} AS platformarg
