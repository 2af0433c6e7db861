#!/bin/sh
# Selects the app to run. `exec` replaces the shell, so node is PID 1 and SIGTERM from Docker or
# Kubernetes reaches the app itself and its graceful shutdown runs.
set -e
app="${1:-gateway}"
case "$app" in
  watcher|fetcher|gateway|cli)
    [ "$#" -gt 0 ] && shift
    # Relative to the working directory, /app in the image (WORKDIR).
    exec node "dist/apps/$app/main.js" "$@"
    ;;
  *)
    # Anything else runs as given, e.g. `docker run --rm -it pushmail sh`.
    exec "$@"
    ;;
esac
