FROM alpine:3.19
COPY ["my file.txt", "other file.txt", "/dst dir/"]
ENTRYPOINT [ "sh", "-c" ]
CMD [ "echo hello" ]
