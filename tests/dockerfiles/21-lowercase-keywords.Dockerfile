from alpine:3.19 as build
run echo lower
workdir /w
copy . .
from scratch
copy --from=build /w /w
cmd ["/w/app"]
