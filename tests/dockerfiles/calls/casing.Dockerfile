arg X=1
FROM busybox
RUN true
run true
Run true
copy . .
from busybox
