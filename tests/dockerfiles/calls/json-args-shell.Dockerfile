FROM busybox AS withshell
SHELL ["/bin/sh", "-c"]
CMD echo hi
ENTRYPOINT echo hi
FROM withshell AS inherits
CMD echo again
FROM busybox AS noshell
CMD echo hi
ENTRYPOINT ["x"]
