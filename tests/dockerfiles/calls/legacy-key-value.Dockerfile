FROM busybox
ENV A b
ENV B c d e
LABEL k v
LABEL "quoted key" value
ENV C="x y"
ENV D=1 E=2
ENV	F	tabbed
env g lower
ENV \
    H continued
LABEL a=b c=d
ENV I=
ONBUILD ENV J k
LABEL "x=y" z
