#!/bin/sh
# deps.sh - install the Debian 12 packages chatd needs that are missing.
# Run by `make deps` (and so by `make run` and `make test`).  Uses sudo
# when not root.  Quiet when everything is already there.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
libwebsockets-dev libwebsockets-evlib-uv libhiredis-dev libsodium-dev
libpcre2-dev libjansson-dev libuv1-dev libinih-dev
redis-server
python3 python3-websockets python3-pytest python3-pytest-asyncio
nodejs chromium"
# npm: Debian's package, unless an npm is already there (NodeSource's nodejs
# carries its own npm and conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "Installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's redis-server package starts a system-wide server; chatd never
# uses it (it starts its own), so keep the package from starting one.
if echo "$missing" | grep -q redis-server && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
