FROM busybox AS base
CMD ["a"]
CMD ["b"]
ENTRYPOINT ["x"]
HEALTHCHECK CMD true
HEALTHCHECK NONE
ENTRYPOINT ["y"]
CMD ["c"]
FROM base
CMD ["d"]
