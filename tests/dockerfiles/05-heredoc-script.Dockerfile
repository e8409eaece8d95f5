# syntax=docker/dockerfile:1.4
FROM alpine:3.19
RUN <<EOF
set -eux
apk add --no-cache bash
adduser -D app
EOF
COPY <<EOF /etc/app/config.ini
[server]
port = 8080
EOF
RUN <<-"EOT" bash
	echo "tabs are stripped"
	echo "no $EXPANSION here"
	EOT
