# check=skip=JSONArgsRecommended,StageNameCasing;error=true
FROM busybox AS Build
CMD echo hi
ENV A b
