FROM alpine:3.19
ADD rootfs.tar.gz /
ADD --unpack=false data.tar.gz /archive/
ADD http://example.com/file.txt /downloads/
