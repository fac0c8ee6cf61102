# Orthanc with the DICOMweb and PostgreSQL plugins from Debian 13's packages
# (Orthanc 1.12, plugins 1.20 and 5.0; the test suite runs Debian 12's 1.10, 1.7
# and 4.0 on the same orthanc.json, and deploy/docker/smoke_orthanc_image.sh runs
# this image). Configuration comes from the environment:
# Orthanc expands ${VAR} in orthanc.json (see deploy/docker/orthanc/orthanc.json).
#   docker build -f deploy/docker/orthanc.Dockerfile -t sarcopenia/orthanc:TAG .
FROM debian:13.1-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       orthanc orthanc-dicomweb orthanc-postgresql curl \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/orthanc/db /var/lib/orthanc/tmp \
    && chown -R orthanc:orthanc /var/lib/orthanc
COPY deploy/docker/orthanc/orthanc.json /etc/orthanc/orthanc.json
USER orthanc
EXPOSE 8042
HEALTHCHECK --interval=30s --timeout=5s \
    CMD curl -fsS -u "$ORTHANC_USERNAME:$ORTHANC_PASSWORD" http://127.0.0.1:8042/system || exit 1
CMD ["Orthanc", "/etc/orthanc/orthanc.json"]
