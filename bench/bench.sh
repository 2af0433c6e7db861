#!/bin/sh
# Thousands of IMAP and Socket.IO connections need more file descriptors than the usual 1,024;
# every process the bench starts inherits this limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec npx tsx bench/run.ts "$@"
