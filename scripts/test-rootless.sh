#!/usr/bin/env bash
# CI's rootless pass: bake's build and worker integration tests again, as an ordinary user.
# Run as root after scripts/test.sh (which installs what they need). It creates the user bake-ci
# with a subordinate id range, lets that user reach this checkout and its Python, then runs
#  - tests/e2e/test_server.py again as root: its tests that act as bake-ci;
#  - tests/integration/test_rootless_cli.py as bake-ci: the `bake` command hands its work to a
#    child that is root in a user namespace, as it does for any ordinary user;
#  - the integration tests as root *inside* bake-ci's user namespace (`python -m bake.app.rootless --`),
#    which is where a rootless build's worker runs: real runc, overlayfs, slirp4netns, registry.
set -euo pipefail
cd "$(dirname "$0")/.."
user=bake-ci
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user"
if [ -c /dev/net/tun ]; then chmod 0666 /dev/net/tun; fi  # Debian's default mode; some VMs ship 0600
if [ -c /dev/fuse ]; then chmod 0666 /dev/fuse; fi  # likewise: fuse-overlayfs snapshots in the namespace
# skopeo, as root in the namespace, looks for signatures below /var/lib/containers
mkdir -p /var/lib/containers && chmod o+x /var/lib/containers
# bake-ci may traverse to the checkout and to the interpreter behind .venv, and read the checkout
for p in "$PWD" "$(readlink -f .venv/bin/python)"; do
  d=$(dirname "$p")
  while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
done
chmod -R o+rX .
as_user() { su "$user" -s /bin/sh -c "cd '$PWD' && $*"; }
# the build server's tests that act as another user (planted sockets, rootless builds served): now
# that bake-ci can reach this checkout (as root; the first pass skipped them)
BAKE_TEST_OTHER_USER="$user" .venv/bin/python -m pytest -p no:cacheprovider tests/e2e/test_server.py
as_user .venv/bin/python -m pytest -p no:cacheprovider tests/integration/test_rootless_cli.py
as_user .venv/bin/python -m bake.app.rootless -- .venv/bin/python -m pytest -p no:cacheprovider tests/integration
