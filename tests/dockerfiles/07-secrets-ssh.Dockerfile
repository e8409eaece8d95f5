FROM alpine:3.19
RUN apk add --no-cache git openssh-client
RUN --mount=type=ssh git clone git@github.com:org/private.git /src
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc cat /root/.npmrc > /dev/null
RUN --mount=type=secret,id=token,env=TOKEN,required=true test -n "$TOKEN"
