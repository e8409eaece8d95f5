ARG ARM=linux/arm64
ARG AMD=linux/amd64
FROM --platform=$ARM 127.0.0.1:5000/library/busybox:latest AS arm
FROM --platform=$AMD 127.0.0.1:5000/library/busybox:latest AS amd
FROM 127.0.0.1:5000/library/busybox:latest
