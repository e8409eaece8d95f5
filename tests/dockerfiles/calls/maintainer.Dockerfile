FROM busybox
MAINTAINER someone <a@b.c>
