FROM alpine:3.19
COPY <<a.txt <<b.txt /files/
first
a.txt
second
b.txt
RUN <<EOF cat > /script.sh && chmod +x /script.sh
#!/bin/sh
echo from script
EOF
