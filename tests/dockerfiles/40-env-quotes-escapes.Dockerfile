FROM alpine:3.19
ENV MSG="hello world" SINGLE='no $expansion' ESCAPED=a\ b
ENV JSONISH="{\"key\": \"value\"}"
LABEL description="A \"quoted\" description"
RUN echo "$MSG" "$SINGLE" "$ESCAPED" "$JSONISH"
