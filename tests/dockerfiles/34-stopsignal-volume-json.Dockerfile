FROM postgres:16
VOLUME ["/var/lib/postgresql/data"]
STOPSIGNAL SIGINT
HEALTHCHECK NONE
