# leading comment

# another

FROM alpine:3.19

# install
RUN apk add --no-cache \
    # comment between packages
    curl \
    # another comment
    jq

    # indented comment
CMD ["sh"]
