ARG BASE
ARG UPPER=Busybox
FROM ${BASE:-busybox} AS ok
FROM $UPPER AS upper
