#!/bin/sh
# Compose secrets arrive as files: WAYMARK_<NAME>_FILE names the file that holds WAYMARK_<NAME>.
# WAYMARK_SIGNING_KEY_FILE is not one of these: the gateway reads that path itself.
set -eu

from_file() {
    if [ -n "$2" ]; then
        value="$(cat "$2")"
        export "$1=$value"
    fi
}

from_file WAYMARK_ADMIN_CLIENT_SECRET "${WAYMARK_ADMIN_CLIENT_SECRET_FILE:-}"
from_file WAYMARK_ENCRYPTION_KEY "${WAYMARK_ENCRYPTION_KEY_FILE:-}"
exec "$@"
