# Shared by the set-up scripts: find or install Bun, install dependencies.
# Bun comes from the npm registry (package "bun"), pinned to the version in package.json.

BUN_VERSION="$(sed -n 's/.*"packageManager": *"bun@\([^"]*\)".*/\1/p' package.json)"

ensure_bun() {
  if command -v bun >/dev/null 2>&1 && [ "$(bun --version)" = "$BUN_VERSION" ]; then
    BUN="$(command -v bun)"
  elif [ -x .tools/node_modules/.bin/bun ] && [ "$(.tools/node_modules/.bin/bun --version)" = "$BUN_VERSION" ]; then
    BUN="$PWD/.tools/node_modules/.bin/bun"
  else
    echo "setup: installing bun@$BUN_VERSION from the npm registry into .tools/" >&2
    npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .tools "bun@$BUN_VERSION" >&2
    BUN="$PWD/.tools/node_modules/.bin/bun"
  fi
  export PATH="$(dirname "$BUN"):$PATH"
  # No lifecycle scripts: ssh2's optional native addon (cpu-features) stays out of the build.
  "$BUN" install --frozen-lockfile --ignore-scripts >&2
}

# Debian packages the test suite needs: sshd for the SSH executor tests, promtool for the
# metrics format check, graphviz (dot) for `picoflow graph --format dot`, chromium for the dashboard's browser tests, openssl for a self-signed certificate in the HTTP tests, qemu + arm64 libc for the Raspberry Pi binary smoke test,
# curl, wget and shellcheck for install.sh's tests.
ensure_test_packages() {
  local missing=""
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
  command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
  command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
  command -v make >/dev/null 2>&1 || missing="$missing make"
  command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing="$missing qemu-user-static"
  command -v curl >/dev/null 2>&1 || missing="$missing curl"
  command -v wget >/dev/null 2>&1 || missing="$missing wget"
  command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
  # The build stamps the binary with the commit (scripts/build.ts); test/version.test.ts commits in a scratch repository.
  command -v git >/dev/null 2>&1 || missing="$missing git"
  [ -e /lib/ld-linux-aarch64.so.1 ] || missing="$missing libc6:arm64"
  [ -z "$missing" ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup: missing Debian packages:$missing (run as root to install them)" >&2
      return 1
    fi
  fi
  echo "setup: installing Debian packages:$missing" >&2
  case "$missing" in *":arm64"*) $sudo dpkg --add-architecture arm64 ;; esac
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >&2
}
