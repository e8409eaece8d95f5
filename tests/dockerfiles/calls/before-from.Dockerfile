ENV A=1
FROM busybox
