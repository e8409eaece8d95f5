FROM ubuntu:22.04
MAINTAINER Old Style <old@example.com>
ENV DEBIAN_FRONTEND noninteractive
ENV PATH /opt/bin:$PATH
RUN apt-get update && apt-get install -y wget
VOLUME /data /logs
