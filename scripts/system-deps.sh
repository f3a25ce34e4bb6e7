#!/usr/bin/env bash
# Install the Debian packages mlaudit uses, when apt is usable and we are root; otherwise say what to do.
#   scripts/system-deps.sh            dataset-fashion-mnist (real data for the built-in default audit) and
#                                     bible-kjv (the King James Bible, the canary-exposure corpus)
#   scripts/system-deps.sh --browser  also chromium and chromium-driver (the HTML report's browser test)
set -u
pkgs=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || pkgs+=(dataset-fashion-mnist)
command -v bible >/dev/null 2>&1 || pkgs+=(bible-kjv)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || pkgs+=(chromium-driver)
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "mlaudit: cannot install ${pkgs[*]} (needs root and apt-get)." >&2
  echo "  Install them as root: apt-get install -y ${pkgs[*]}" >&2
  echo "  Without dataset-fashion-mnist the default audit falls back to scikit-learn's digits;" >&2
  echo "  without chromium the browser test is skipped; without bible-kjv the canary tests are." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "mlaudit: installing ${pkgs[*]} with apt-get" >&2
apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${pkgs[@]}" >/dev/null; } \
  || echo "mlaudit: apt-get could not install ${pkgs[*]}; the default audit falls back to digits, the browser test is skipped" >&2
exit 0
