FROM alpine:3.19
ARG FULL=/usr/local/bin/tool
ARG VERSION=v1.2.3
ENV BASE=${FULL##*/} DIR=${FULL%/*} V=${VERSION#v} MAJOR=${VERSION%%.*}
ENV ALT=${UNSET:-fallback} SET=${VERSION:+yes} REPL=${VERSION//./_}
RUN echo "$BASE $DIR $V $MAJOR $ALT $SET $REPL"
