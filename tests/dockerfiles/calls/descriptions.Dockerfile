# syntax-like comments are not directives here
ARG BASE=busybox

# build prepares the sources
FROM busybox AS build
RUN true

# an unrelated comment describes nothing
FROM busybox AS unrelated

# test runs the tests

# and a second line
FROM build AS test

# lint
#
# lint checks the code, after an empty comment line
FROM build AS lint

FROM build
# between stages
  # deploy  indented comments keep their hash
FROM build AS deploy
# release the last stage is the default
FROM deploy AS release
