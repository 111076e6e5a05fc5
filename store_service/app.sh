#!/bin/sh
# Container entry for the store service: `app.sh` serves it with gunicorn, `app.sh migrate` applies its migrations.
set -e
exec python -m salesync_common.serve store_service "$@"
