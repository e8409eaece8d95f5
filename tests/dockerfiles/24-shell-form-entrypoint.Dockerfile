FROM alpine:3.19
ENTRYPOINT exec /bin/sh -c 'echo $0 $@'
CMD echo default
