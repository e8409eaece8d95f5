FROM alpine:3.19 AS tools
RUN echo tool > /tool
FROM alpine:3.19
RUN --mount=type=tmpfs,target=/scratch,size=100m \
    --mount=type=bind,from=tools,source=/tool,target=/mnt/tool \
    --mount=type=bind,target=/src,rw \
    cp /mnt/tool /scratch/ && ls /src
