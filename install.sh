#!/bin/sh
# install.sh: install PicoFlow from a GitHub release, checksum verified. Read it first.
#
#   sh install.sh [--version X.Y.Z] [--with-service] [--root DIR] [--base-url URL]
#
# What it does, in order (nothing is changed before step 4):
#   1. picks the binary for this machine from `uname -m`: aarch64/arm64 -> picoflow-linux-arm64,
#      x86_64/amd64 -> picoflow-linux-x64. 32-bit ARM (armv6l, armv7l: a 32-bit Raspberry Pi
#      OS) is refused: Bun, which PicoFlow is built on, has no 32-bit ARM build.
#   2. downloads that binary and SHA256SUMS from the release, with curl or wget, into a
#      temporary directory that is removed on exit;
#   3. checks the binary's SHA-256 against its line in SHA256SUMS; a mismatch, or no line for
#      it, stops here with nothing installed;
#   4. installs it as /usr/local/bin/picoflow, atomically (a temporary name in the same
#      directory, run once with --version, then renamed over the old one), and prints
#      `picoflow --version`. Run again, it upgrades in place (an identical binary is left
#      alone); a running picoflow service is restarted after a change, a stopped one is left
#      stopped.
#   5. with --with-service only: creates the system user and group `picoflow`,
#      /etc/picoflow/config.toml (db_path = "/var/lib/picoflow/picoflow.db"; an existing file
#      is never touched), /etc/picoflow/workflows, /var/lib/picoflow (the user's, 0750),
#      installs the systemd unit /etc/systemd/system/picoflow.service (the same text as
#      examples/picoflow.service) and enables it, with systemd-time-wait-sync (or chrony-wait
#      if chrony keeps the time) so schedules wait for NTP at boot. The first time, it also
#      starts the service.
#
# Options:
#   --version X.Y.Z   install this release (X.Y.Z or vX.Y.Z); default: the latest release
#   --with-service    also set up the systemd service (step 5)
#   --root DIR        install under DIR instead of / (an image being built, a test): every
#                     path above is prefixed with DIR. The user is created with
#                     `useradd --root DIR` if DIR/etc/passwd exists (else skipped, said so),
#                     the unit enabled with `systemctl --root DIR` (or its symlink made by
#                     hand if there is no systemctl); nothing is started or restarted.
#   --base-url URL    where releases are (default https://github.com/zoza1982/picoflow/releases,
#                     or $PICOFLOW_INSTALL_BASE_URL): URL/download/vX.Y.Z/FILE for a version,
#                     URL/latest/download/FILE for the latest
#   -h, --help        print this help
#
# Needs root for / (sudo sh install.sh ...), and for --with-service. Exit status: 0 done,
# 1 failed (the message says what, and what was left as it was), 2 a wrong option.
#
# The checksum proves the binary is the one the release published (not truncated, not
# swapped on the way); it comes from the same place, so it is not a signature.

set -eu

REPO_RELEASES="https://github.com/zoza1982/picoflow/releases"
BASE_URL="${PICOFLOW_INSTALL_BASE_URL:-$REPO_RELEASES}"
VERSION=""          # empty: the latest release
WITH_SERVICE=0
ROOT="/"
PREFIX=""           # ROOT without its trailing slash: "" for /
WORK=""             # the temporary download directory
PARTIAL=""          # a binary being installed, removed if we stop half-way
BINARY_CHANGED=0
UNIT_CHANGED=0
UNIT_IS_NEW=0

say() { printf '%s\n' "$*"; }
note() { printf 'note: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'install.sh: %s (see sh install.sh --help)\n' "$*" >&2; exit 2; }

usage() {
  # The header above, without the leading "# ": one place for the documentation.
  if [ -f "$0" ]; then sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
  else say "usage: sh install.sh [--version X.Y.Z] [--with-service] [--root DIR] [--base-url URL]"; fi
}

cleanup() {
  [ -z "$PARTIAL" ] || rm -f "$PARTIAL"
  [ -z "$WORK" ] || rm -rf "$WORK"
}

# --- options ---------------------------------------------------------------------------

parse_args() {
  while [ $# -gt 0 ]; do
    opt="$1"
    case "$opt" in
      --*=*) value="${opt#*=}"; opt="${opt%%=*}"; has_value=1 ;;
      *) value=""; has_value=0 ;;
    esac
    case "$opt" in
      --version|--root|--base-url)
        if [ "$has_value" = 0 ]; then
          [ $# -ge 2 ] || usage_error "$opt needs a value"
          value="$2"; shift
        fi
        case "$opt" in
          --version) VERSION="$value" ;;
          --root) ROOT="$value" ;;
          --base-url) BASE_URL="$value" ;;
        esac ;;
      --with-service) WITH_SERVICE=1 ;;
      -h|--help) usage; exit 0 ;;
      *) usage_error "unknown option '$1'" ;;
    esac
    shift
  done

  if [ -n "$VERSION" ]; then
    VERSION="${VERSION#v}"
    # Semantic versions only: the value goes into a URL.
    printf '%s' "$VERSION" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$' ||
      usage_error "--version: '$VERSION' is not a version like 1.2.3"
  fi
  BASE_URL="${BASE_URL%/}"
  [ -n "$BASE_URL" ] || usage_error "--base-url needs a URL"
  [ -d "$ROOT" ] || usage_error "--root: no such directory: $ROOT"
  PREFIX="$(cd "$ROOT" && pwd -P)"
  [ "$PREFIX" != "/" ] || PREFIX=""
}

# Root is needed for / (and to create users and set owners anywhere); say so before
# downloading 100 MB.
check_privileges() {
  [ "$(id -u)" = 0 ] && return 0
  if [ -z "$PREFIX" ]; then die "installing into / needs root: run with sudo (sudo sh install.sh ...)"; fi
  if [ "$WITH_SERVICE" = 1 ]; then die "--with-service needs root (it creates a user and sets owners): run with sudo"; fi
}

# --- 1. which binary -------------------------------------------------------------------

detect_asset() {
  machine="$(uname -m)"
  case "$machine" in
    aarch64|arm64)
      # A 64-bit kernel under a 32-bit userland (older 32-bit Raspberry Pi OS images on a
      # Pi 4 or 5) says aarch64, but cannot run a 64-bit program.
      if [ -z "$PREFIX" ] && [ "$(getconf LONG_BIT 2>/dev/null || echo 64)" = 32 ]; then
        die "this is a 64-bit kernel with a 32-bit system (uname -m says $machine, getconf LONG_BIT says 32): PicoFlow needs a 64-bit OS, such as the 64-bit Raspberry Pi OS"
      fi
      ASSET="picoflow-linux-arm64" ;;
    x86_64|amd64) ASSET="picoflow-linux-x64" ;;
    armv6l|armv7l|armv8l|armhf|arm)
      die "32-bit ARM ($machine) is not supported: Bun, which PicoFlow is built on, has no 32-bit ARM build. A Pi 3, 4, 5 or Zero 2 W can run the 64-bit Raspberry Pi OS (then uname -m says aarch64); a Pi 1, 2 (before v1.2) or Zero (W) cannot run PicoFlow" ;;
    *) die "unsupported architecture '$machine': PicoFlow is built for aarch64 (arm64) and x86_64 Linux only" ;;
  esac
}

# --- 2. download -----------------------------------------------------------------------

pick_downloader() {
  if command -v curl >/dev/null 2>&1; then DOWNLOADER=curl
  elif command -v wget >/dev/null 2>&1; then DOWNLOADER=wget
  else die "neither curl nor wget found: install one (sudo apt-get install curl) and run this again"
  fi
}

# fetch URL FILE, with whichever tool there is; errors on stderr.
fetch() {
  if [ "$DOWNLOADER" = curl ]; then
    curl --fail --silent --show-error --location --retry 2 --output "$2" "$1"
  else
    wget --no-verbose --output-document="$2" "$1"
  fi
}

# download URL FILE: or stop, with the tool's one-line reason.
download() {
  fetch "$1" "$2" 2>"$WORK/error" && return 0
  reason="$(grep -v '^ *$' "$WORK/error" | tail -n 1)"
  die "could not download $1 (${reason:-no reason given}): nothing installed"
}

release_url() {
  if [ -n "$VERSION" ]; then say "$BASE_URL/download/v$VERSION/$1"; else say "$BASE_URL/latest/download/$1"; fi
}

download_release() {
  WORK="$(mktemp -d)"
  if [ -n "$VERSION" ]; then which="v$VERSION"; else which="the latest release"; fi
  say "Downloading $ASSET ($which) from $BASE_URL"
  download "$(release_url SHA256SUMS)" "$WORK/SHA256SUMS"
  download "$(release_url "$ASSET")" "$WORK/$ASSET"
}

# --- 3. verify -------------------------------------------------------------------------

verify_checksum() {
  # Lines are "HASH  NAME" (or "HASH *NAME", sha256sum's binary mode).
  expected="$(awk -v name="$ASSET" '$2 == name || $2 == "*" name { print tolower($1); exit }' "$WORK/SHA256SUMS")"
  printf '%s' "$expected" | grep -Eq '^[0-9a-f]{64}$' ||
    die "SHA256SUMS has no checksum for $ASSET: nothing installed"
  actual="$(sha256sum "$WORK/$ASSET" | cut -d' ' -f1)"
  [ "$actual" = "$expected" ] ||
    die "checksum mismatch for $ASSET: SHA256SUMS says $expected, the download is $actual: nothing installed"
  say "Checksum OK: $actual"
}

# --- 4. install the binary -------------------------------------------------------------

# The first line of `BINARY --version`, or nothing if it does not run here.
version_of() {
  "$1" --version 2>/dev/null | head -n 1 || true
}

install_binary() {
  bindir="$PREFIX/usr/local/bin"
  dest="$bindir/picoflow"
  [ -d "$bindir" ] || install -d -m 0755 "$bindir"
  if [ -f "$dest" ] && cmp -s "$WORK/$ASSET" "$dest"; then
    say "$dest is already this binary: left as it is"
    version_of "$dest"
    return 0
  fi
  old=""
  [ ! -f "$dest" ] || old="$(version_of "$dest")"

  # A temporary name in the same directory, so the rename below is atomic: a running
  # picoflow keeps its old file, and a new one never sees half a binary.
  PARTIAL="$bindir/.picoflow.new.$$"
  install -m 0755 "$WORK/$ASSET" "$PARTIAL"
  # Run it before it replaces anything: a binary that cannot start here (a 32-bit userland,
  # a wrong download) must not take the place of one that works.
  if ! new="$("$PARTIAL" --version 2>&1)"; then
    if [ -z "$PREFIX" ]; then
      die "the downloaded picoflow does not run on this machine ($(printf '%s' "$new" | head -n 1)): nothing installed"
    fi
    # Under --root it may be for the image's architecture, not this machine's.
    note "$ASSET does not run on this machine (for another architecture?); installed without running it"
    new=""
  fi
  mv -f "$PARTIAL" "$dest"
  PARTIAL=""
  BINARY_CHANGED=1
  say "Installed $dest${old:+ (was: $old)}"
  [ -z "$new" ] || say "$new"
}

# --- 5. the service (--with-service) ---------------------------------------------------

# The passwd line of user picoflow (this machine's, or the one in --root), or nothing.
passwd_entry() {
  if [ -z "$PREFIX" ]; then getent passwd picoflow || true
  elif [ -f "$PREFIX/etc/passwd" ]; then grep '^picoflow:' "$PREFIX/etc/passwd" || true
  fi
}

create_user() {
  if [ -n "$(passwd_entry)" ]; then say "User picoflow exists"; return 0; fi
  if [ -n "$PREFIX" ] && [ ! -f "$PREFIX/etc/passwd" ]; then
    note "no $PREFIX/etc/passwd: user picoflow not created, $PREFIX/var/lib/picoflow left to root (systemd gives it to the user when the service starts)"
    return 0
  fi
  command -v useradd >/dev/null 2>&1 || die "useradd not found: cannot create the user picoflow"
  # --user-group: the unit says Group=picoflow, and without USERGROUPS_ENAB in
  # login.defs a system user would get the group "users" instead.
  if [ -z "$PREFIX" ]; then set --; else set -- --root "$PREFIX"; fi
  useradd "$@" --system --user-group --home-dir /var/lib/picoflow --no-create-home \
    --shell /usr/sbin/nologin --comment "PicoFlow workflow scheduler" picoflow
  say "Created the system user picoflow"
}

create_dirs_and_config() {
  install -d -m 0755 "$PREFIX/etc/picoflow" "$PREFIX/etc/picoflow/workflows"
  install -d -m 0750 "$PREFIX/var/lib/picoflow"
  entry="$(passwd_entry)"
  if [ -n "$entry" ]; then
    # Numbers from the passwd line: under --root, the name means nothing to this machine.
    chown "$(printf '%s' "$entry" | cut -d: -f3):$(printf '%s' "$entry" | cut -d: -f4)" "$PREFIX/var/lib/picoflow"
  fi
  config="$PREFIX/etc/picoflow/config.toml"
  if [ -e "$config" ]; then
    say "$config exists: left as it is"
  else
    printf '%s\n' \
      '# PicoFlow settings for the service and for your own picoflow commands (docs/configuration.md).' \
      'db_path = "/var/lib/picoflow/picoflow.db"' >"$config.new"
    chmod 0644 "$config.new"
    mv "$config.new" "$config"
    say "Wrote $config"
  fi
}

# examples/picoflow.service, byte for byte (test/install.test.ts checks it).
write_unit() {
  cat <<'PICOFLOW_UNIT_END'
# PicoFlow daemon as a systemd service (see docs/daemon.md, "Run on a Raspberry Pi").
#
# Install:
#   sudo install -m 0755 picoflow-linux-arm64 /usr/local/bin/picoflow
#   sudo useradd --system --home-dir /var/lib/picoflow --shell /usr/sbin/nologin picoflow
#   sudo install -d -m 0755 /etc/picoflow/workflows
#   printf 'db_path = "/var/lib/picoflow/picoflow.db"\n' | sudo tee /etc/picoflow/config.toml
#   sudo install -m 0644 picoflow.service /etc/systemd/system/picoflow.service
#   sudo systemctl enable systemd-time-wait-sync    # see "Wants=" below
#   sudo systemctl daemon-reload && sudo systemctl enable --now picoflow
#
# Tasks that use GPIO, i2c, SPI, the camera or vcgencmd: add the drop-in
# picoflow.service.d/pi-hardware.conf (see that file).
#
# Reload workflow files after editing them:  sudo systemctl reload picoflow
# Follow the log:                             journalctl -u picoflow -f

[Unit]
Description=PicoFlow workflow scheduler
Documentation=https://github.com/zoza1982/picoflow
# Scheduled workflows usually talk to the network; wait for it, and for a set clock
# (a Pi has no real-time clock: before NTP sync, "2 AM" means nothing). time-sync.target
# waits for the clock only if a service that waits for NTP is enabled:
#   sudo systemctl enable systemd-time-wait-sync    (systemd-timesyncd, Raspberry Pi OS's default)
#   sudo systemctl enable chrony-wait               (if chrony keeps the time instead)
# Without one, the daemon may start with the clock of the last shutdown.
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target

[Service]
Type=simple
User=picoflow
Group=picoflow
# /var/lib/picoflow, owned by the service user: the database and the PID file live here.
StateDirectory=picoflow
StateDirectoryMode=0750
WorkingDirectory=/var/lib/picoflow
# Secrets for ${VAR} in workflow files go here (root-owned, mode 0600), one VAR=value a line.
EnvironmentFile=-/etc/picoflow/environment
# Settings come from one place, /etc/picoflow/config.toml (db_path, [metrics], [logs]...):
# the file your own `picoflow status` or `daemon status` finds by default, so both use the
# same database and PID file. PICOFLOW_DB_PATH would override its db_path for the daemon
# alone: it is removed, even if set in the file above. (Logs are JSON: stderr is not a
# terminal.)
UnsetEnvironment=PICOFLOW_DB_PATH
# The directory: every *.yaml and *.yml file in it, read again on every reload, so a
# workflow file added to it is picked up by `systemctl reload picoflow`.
ExecStart=/usr/local/bin/picoflow --config /etc/picoflow/config.toml daemon start /etc/picoflow/workflows
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM: running workflows get 60 s (shutdown_grace_seconds) to finish, then are killed
# and recorded; leave room for that before systemd sends SIGKILL. KillMode=mixed sends the
# SIGTERM to PicoFlow alone (so tasks are not cut short by systemd), and the final SIGKILL
# to anything left in the service, so nothing outlives it.
KillMode=mixed
TimeoutStopSec=90
# Exit 9: workflows had to be killed at shutdown; the stop itself went as asked.
SuccessExitStatus=9
Restart=on-failure
RestartSec=5s

# Hardening. Tasks run as the picoflow user with these restrictions too: widen them (for
# example ReadWritePaths=/mnt/backup) if your workflows write elsewhere. PrivateDevices=yes
# hides GPIO, i2c, SPI, the camera and vcgencmd: picoflow.service.d/pi-hardware.conf opens them.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RemoveIPC=yes
PrivateMounts=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
UMask=0027

[Install]
WantedBy=multi-user.target
PICOFLOW_UNIT_END
}

install_unit() {
  unitdir="$PREFIX/etc/systemd/system"
  unit="$unitdir/picoflow.service"
  install -d -m 0755 "$unitdir"
  write_unit >"$WORK/picoflow.service"
  if [ -f "$unit" ] && cmp -s "$WORK/picoflow.service" "$unit"; then
    say "$unit is up to date"
    return 0
  fi
  [ -f "$unit" ] || UNIT_IS_NEW=1
  install -m 0644 "$WORK/picoflow.service" "$unit.new"
  mv -f "$unit.new" "$unit"
  UNIT_CHANGED=1
  say "Installed $unit"
}

# systemctl, for this machine or the one under --root.
sysctl() {
  if [ -z "$PREFIX" ]; then systemctl "$@"; else systemctl --root="$PREFIX" "$@"; fi
}

has_unit_file() {
  for dir in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
    [ ! -e "$PREFIX$dir/$1" ] || return 0
  done
  return 1
}

enable_units() {
  if ! command -v systemctl >/dev/null 2>&1; then
    [ -n "$PREFIX" ] || die "systemctl not found: --with-service needs systemd"
    # What `systemctl enable` does for WantedBy=multi-user.target.
    install -d -m 0755 "$PREFIX/etc/systemd/system/multi-user.target.wants"
    ln -sf /etc/systemd/system/picoflow.service "$PREFIX/etc/systemd/system/multi-user.target.wants/picoflow.service"
    note "no systemctl: enabled picoflow.service by its symlink; systemd-time-wait-sync not enabled"
    return 0
  fi
  sysctl enable --quiet picoflow.service
  say "Enabled picoflow.service"
  # time-sync.target, which the unit waits for, waits for NTP only with one of these.
  if has_unit_file chrony-wait.service; then wait_unit=chrony-wait.service
  elif has_unit_file systemd-time-wait-sync.service; then wait_unit=systemd-time-wait-sync.service
  else note "neither systemd-time-wait-sync nor chrony-wait found: the service may start before NTP has set the clock"; return 0
  fi
  sysctl enable --quiet "$wait_unit"
  say "Enabled $wait_unit (the service waits for NTP at boot)"
}

setup_service() {
  create_user
  create_dirs_and_config
  install_unit
  enable_units
}

# --- restart ---------------------------------------------------------------------------

# systemd runs here (not under --root, not in a container without it).
systemd_running() {
  [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# Checked before anything changes: "was it running?"
service_was_active() {
  systemd_running && systemctl is-active --quiet picoflow.service
}

restart_or_start() {
  was_active="$1"
  if ! systemd_running; then
    if [ "$WITH_SERVICE" = 1 ]; then
      if [ -n "$PREFIX" ]; then note "under --root: the service is not started (it starts when that system boots)"
      else note "systemd is not running here: the service is enabled, not started"; fi
    fi
    return 0
  fi
  [ "$UNIT_CHANGED" = 0 ] || systemctl daemon-reload
  if [ "$was_active" = 1 ]; then
    if [ "$BINARY_CHANGED" = 1 ] || [ "$UNIT_CHANGED" = 1 ]; then
      systemctl restart picoflow.service
      say "Restarted picoflow.service"
    else
      say "picoflow.service is running; nothing changed, so it was not restarted"
    fi
  elif [ "$UNIT_IS_NEW" = 1 ]; then
    # A first --with-service install starts it; later runs leave a stopped service stopped.
    systemctl start picoflow.service
    say "Started picoflow.service: add workflow files to /etc/picoflow/workflows, then: sudo systemctl reload picoflow"
  elif [ "$WITH_SERVICE" = 1 ] || has_unit_file picoflow.service; then
    say "picoflow.service is not running: left stopped (start it: sudo systemctl start picoflow)"
  fi
}

main() {
  parse_args "$@"
  check_privileges
  detect_asset
  pick_downloader
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  download_release
  verify_checksum
  if service_was_active; then was_active=1; else was_active=0; fi
  install_binary
  [ "$WITH_SERVICE" = 0 ] || setup_service
  restart_or_start "$was_active"
  say "Done."
}

main "$@"
