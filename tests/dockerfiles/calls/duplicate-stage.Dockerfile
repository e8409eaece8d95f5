FROM busybox AS dup
FROM busybox AS dup
FROM busybox AS context
