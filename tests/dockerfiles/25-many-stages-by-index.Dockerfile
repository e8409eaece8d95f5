FROM alpine:3.19
RUN echo zero > /zero
FROM alpine:3.19
RUN echo one > /one
FROM scratch
COPY --from=0 /zero /zero
COPY --from=1 /one /one
