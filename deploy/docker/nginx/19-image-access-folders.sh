#!/bin/sh
# Run by the nginx image's /docker-entrypoint.sh (as root, before nginx starts): the
# folders of default.conf.template's image path.
# - IMAGE_ACCESS_LOG_DIR: nginx writes the access log (the audit record of every pixel
#   request it serves) only into a folder that exists, and silently writes nothing
#   otherwise; so it is made here, owned by nginx's workers and writable by group nginx
#   (gid 101), the group of the shipper beside nginx (Compose: group_add; Kubernetes:
#   fsGroup), which deletes the files it has shipped.
# - IMAGE_ACCESS_CACHE: the access decisions, keyed by session cookies and tokens:
#   nginx's alone (mount a tmpfs there).
# No exit on success: it works sourced (as *.envsh are) as well as run.
if ! mkdir -p "${IMAGE_ACCESS_LOG_DIR:?}" "${IMAGE_ACCESS_CACHE:?}"; then
    echo "image-access-folders: cannot create $IMAGE_ACCESS_LOG_DIR or $IMAGE_ACCESS_CACHE" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ] && ! chown nginx:nginx "$IMAGE_ACCESS_LOG_DIR" "$IMAGE_ACCESS_CACHE"; then
    echo "image-access-folders: cannot give $IMAGE_ACCESS_LOG_DIR to nginx" >&2
    exit 1
fi
if ! chmod 2775 "$IMAGE_ACCESS_LOG_DIR" || ! chmod 0700 "$IMAGE_ACCESS_CACHE"; then
    echo "image-access-folders: cannot set the modes of $IMAGE_ACCESS_LOG_DIR, $IMAGE_ACCESS_CACHE" >&2
    exit 1
fi
