FROM busybox
RUN <<EOF
echo fine
EOF
RUN <<-EOT bash
	echo tabs
	EOT
COPY <<A <<B /dst/
a
A
b
B
