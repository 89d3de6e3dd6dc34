#!/usr/bin/env bash
set -u
# Runs the pytest suites given (directories or files) with Debian's python
# (which has python3-dkim, python3-spf, aiosmtpd...). Nothing to run is an
# error, not a pass.
for t in "$@"; do
  if [ -d "$t" ] && ! ls "$t"/test_*.py >/dev/null 2>&1; then echo "no tests in $t"; exit 1; fi
  if [ ! -e "$t" ]; then echo "no such test path: $t"; exit 1; fi
done
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
