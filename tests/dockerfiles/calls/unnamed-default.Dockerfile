FROM busybox AS base
FROM base
# trailing unnamed stage is the default
FROM base
