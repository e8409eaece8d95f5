FROM nginx:1.25-alpine
LABEL org.opencontainers.image.title="web" \
      org.opencontainers.image.source="https://example.com/repo" \
      maintainer="ops@example.com"
COPY nginx.conf /etc/nginx/nginx.conf
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -qO- http://localhost/health || exit 1
EXPOSE 80 443
STOPSIGNAL SIGQUIT
