# Shared by build-wheels.sh and check-wheels.sh (sourced): using a Debian root made by
# debootstrap. Its /proc and /dev are mounted while it is used and always unmounted at exit.
mounted=()
cleanup_mounts() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup_mounts EXIT
mount_root() {
  local r=$1
  mountpoint -q "$r/proc" || { mount -t proc proc "$r/proc" && mounted+=("$r/proc"); }
  mountpoint -q "$r/dev" || { mount --bind /dev "$r/dev" && mounted+=("$r/dev"); }
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  # debootstrap writes no /etc/hosts: "localhost" (mosquitto_pub's default host) must resolve.
  [ -s "$r/etc/hosts" ] || printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$r/etc/hosts"
  # The host's CA bundle (it may trust a proxy's CA that the root's own bundle lacks).
  mkdir -p "$r/etc/ssl" && cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/host-ca.crt" 2>/dev/null || true
}
# chroot_run ROOT COMMAND...: in a clean environment, with the host's CA bundle and its package
# index and proxy settings if it has any.
chroot_run() {
  local r=$1 v
  shift
  local args=(PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8)
  [ -e "$r/etc/ssl/host-ca.crt" ] &&
    args+=(PIP_CERT=/etc/ssl/host-ca.crt SSL_CERT_FILE=/etc/ssl/host-ca.crt REQUESTS_CA_BUNDLE=/etc/ssl/host-ca.crt)
  for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT http_proxy https_proxy no_proxy; do
    [ -n "${!v:-}" ] && args+=("$v=${!v}")
  done
  chroot "$r" env -i "${args[@]}" "$@"
}
# remove_root ROOT: unmounts what may be left mounted in it, then deletes it (never crossing
# into a mount: --one-file-system).
remove_root() {
  local r=$1 m
  for m in proc dev refdata; do umount -l "$r/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$r"
}
