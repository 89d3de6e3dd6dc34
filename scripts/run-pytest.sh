#!/usr/bin/env bash
# Runs the pytest suite in DIR with Debian's python (which has python3-dkim,
# python3-spf, aiosmtpd...). An empty directory is an error, not a pass.
set -u
dir=$1
if ! ls "$dir"/test_*.py >/dev/null 2>&1; then echo "no tests in $dir"; exit 1; fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$dir"
