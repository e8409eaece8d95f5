FROM busybox AS win
WORKDIR C:\\app
FROM busybox AS winfwd
WORKDIR c:/app
FROM busybox AS rel
WORKDIR app
WORKDIR sub
FROM busybox AS home
WORKDIR $HOME/x
FROM busybox AS fromarg
ARG DIR=rel
WORKDIR ${DIR}
FROM busybox AS abs
WORKDIR /abs
FROM abs AS child
WORKDIR relative-after-base-set
FROM busybox AS undef
WORKDIR ${UNDEFINED_DIR}/x
FROM busybox AS backslash
WORKDIR \\server\share
