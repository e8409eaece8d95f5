FROM busybox AS Build
from busybox as other
FROM busybox as lower-as
from busybox AS upper-as
From busybox As mixed
FROM busybox AS build2
