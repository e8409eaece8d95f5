# check=skip=JSONArgsRecommended;error=true
FROM alpine:3.19 AS Build
CMD echo not json
