#!/usr/bin/env bash
# Debian packages the deploy tests need: promtool + the prometheus server (rule tests and
# the real-Prometheus integration test) and amtool (Alertmanager config check).
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
# The review console's browser test: Debian's headless Chromium and its WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends "${need[@]}"
fi
# Debian's postinst may start the packaged services where an init system runs; the tests
# start their own Prometheus on a free port and need neither.
promtool --version | head -1
