#!/bin/sh
# Installs the Boxyard CLI from the dashboard at BOXYARD_DASHBOARD into ~/.local/bin/boxyard:
#
#   curl -fsSL <dashboard>/cli/install.sh | sh
#
# Served by server/http/cli-download.ts with the dashboard's URL filled in. Downloads the CLI into a temporary file
# beside the target, checks its SHA-256 against the one the dashboard publishes, and only then moves the complete
# file into place: a cut download or a wrong hash installs nothing. Everything is inside main(), called on the last
# line, so a script cut halfway by the pipe runs nothing at all.
set -eu

BOXYARD_DASHBOARD=__BOXYARD_DASHBOARD__

fail() {
  echo "boxyard install: $*" >&2
  exit 1
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

main() {
  bin_dir="$HOME/.local/bin"
  target="$bin_dir/boxyard"

  command -v node >/dev/null 2>&1 || fail "the Boxyard CLI needs Node.js 20 or newer, and there is no node on your PATH: install Node.js and run this again."
  node_major=$(node -p 'process.versions.node.split(".")[0]') || node_major=0
  [ "$node_major" -ge 20 ] 2>/dev/null || fail "the Boxyard CLI needs Node.js 20 or newer, and this node is $(node --version): upgrade it and run this again."
  command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 || fail "neither sha256sum nor shasum is installed, so the download cannot be checked: nothing installed."

  mkdir -p "$bin_dir"
  download=$(mktemp "$bin_dir/.boxyard.XXXXXX")
  trap 'rm -f "$download"' EXIT
  trap 'exit 1' INT TERM HUP
  curl -fsSL "$BOXYARD_DASHBOARD/cli/boxyard.mjs" -o "$download" || fail "could not download $BOXYARD_DASHBOARD/cli/boxyard.mjs: nothing installed."
  published_line=$(curl -fsSL "$BOXYARD_DASHBOARD/cli/boxyard.mjs.sha256") || fail "could not download $BOXYARD_DASHBOARD/cli/boxyard.mjs.sha256: nothing installed."
  published=${published_line%% *}
  downloaded=$(sha256_of "$download")
  [ -n "$published" ] && [ "$downloaded" = "$published" ] ||
    fail "the downloaded CLI's SHA-256 is $downloaded but the dashboard publishes ${published:-nothing}: it was changed on the way, nothing installed. Try again; if it happens again, tell the dashboard's admin."

  chmod 755 "$download"
  mv -f "$download" "$target"
  trap - EXIT
  echo "Installed $target: $("$target" version)"
  case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "$bin_dir is not on your PATH. Add it, e.g. with: echo 'export PATH=\"\$HOME/.local/bin:\$PATH\"' >> ~/.profile (or ~/.zshrc), then open a new shell." ;;
  esac
  echo "Next: boxyard login $BOXYARD_DASHBOARD, then boxyard connect"
}

main
