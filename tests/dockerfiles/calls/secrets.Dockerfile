ARG GLOBAL_TOKEN=x
FROM busybox
ARG GITHUB_TOKEN
ENV DB_PASSWORD=hunter2
ARG PUBLIC_KEY
ENV GPG_KEY=abc
ARG AUTH
ARG SECRET_FILE=/run/secret
ARG API_KEY_VERSION=1
ARG MYSECRET=1
ARG apikey credentials=2 pword
ENV aws_secret_access_key=1 passwd_hash=2
