# syntax=docker/dockerfile:1.7-labs
FROM alpine:3.19
COPY --link --chmod=0755 entrypoint.sh /usr/local/bin/
COPY --parents ./services/*/config.yaml /configs/
COPY --exclude=*.md --exclude=docs . /src
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /opt/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.13.0 /buildkit
