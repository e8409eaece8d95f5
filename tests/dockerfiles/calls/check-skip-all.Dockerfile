# check=skip=all
FROM busybox AS Build
CMD echo hi
