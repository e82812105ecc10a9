#!/usr/bin/env bash
# Static checks of the systemd integration in systemd/, runnable on a Debian 12 machine that
# has the packages in ci/apt-packages.txt (systemd need not be PID 1). Runs in ~1 s. Root is
# needed for the udev and tmpfiles checks (mount namespace, chown in a scratch root).
#
#   1. systemd-analyze verify on the unit. It exits 0 on unknown keys and bad values and only
#      complains on stderr, so any stderr output fails. It also rejects an ExecStart= binary
#      that does not exist, and /usr/bin/receiptd is not installed on a CI machine: we verify
#      a copy whose ExecStart= binary is /bin/true (arguments kept), so nothing else needs to
#      be filtered out of stderr.
#   2. systemd-analyze security --offline: the exposure must not rise above what the unit
#      reaches now (1.2); the score is printed.
#   3. The udev rules, through udev's own rule engine: systemd 252 has no `udevadm verify`
#      (253+), so in a private mount namespace only our rules file is made visible and
#      `udevadm test` is run on fake USB devices in a tmpfs mounted over /sys (read-only,
#      SYSTEMD_DEVICE_VERIFY_SYSFS=0). That fails on parse errors (any diagnostic naming the
#      file) and checks which devices get GROUP=lp / TAG systemd. /dev and /run are tmpfs
#      in there too, so the host is not touched.
#   4. sysusers.d and tmpfiles.d applied to a scratch root (--root): the user and its group
#      memberships are created, the directories get the documented owners and modes.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
units=$repo/systemd
threshold=12 # systemd-analyze's scale: 12 means an exposure of 1.2

# -- re-entry point for one udev case, inside `unshare -m` -----------------------------------
if [[ ${1:-} == __udev_case ]]; then
    # args: rules-file action ID_USB_INTERFACES idVendor idProduct
    rules=$2 action=$3 ifaces=$4 vendor=$5 product=$6
    mount --make-rprivate /
    for dir in /usr/lib/udev/rules.d /lib/udev/rules.d /etc/udev/rules.d; do
        if [[ -d $dir ]]; then mount -t tmpfs tmpfs "$dir"; fi
    done
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /dev
    mkdir -p /run/udev/rules.d
    cp "$rules" /run/udev/rules.d/
    mount -t tmpfs tmpfs /sys
    dev=/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1
    mkdir -p /sys/bus/usb "$dev"
    ln -s ../../../../../bus/usb "$dev/subsystem"
    printf 'MAJOR=189\nMINOR=3\nDEVNAME=bus/usb/001/004\nDEVTYPE=usb_device\n' >"$dev/uevent"
    # usb_id (50-udev-default.rules, not loaded here) sets this on real devices.
    printf 'ID_USB_INTERFACES=%s\n' "$ifaces" >>"$dev/uevent"
    echo "$vendor" >"$dev/idVendor"
    echo "$product" >"$dev/idProduct"
    mount -o remount,ro /sys
    exec env SYSTEMD_DEVICE_VERIFY_SYSFS=0 SYSTEMD_LOG_LEVEL=debug \
        udevadm test --action="$action" "${dev#/sys}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

# -- 1. verify ---------------------------------------------------------------------------
echo "== systemd-analyze verify"
mkdir "$tmp/units"
sed -E 's#^ExecStart=/usr/bin/receiptd( |$)#ExecStart=/bin/true\1#' \
    "$units/receiptd.service" >"$tmp/units/receiptd.service"
grep -q '^ExecStart=/bin/true run ' "$tmp/units/receiptd.service" \
    || fail "ExecStart= is no longer /usr/bin/receiptd …; update ci/check-systemd.sh"
if ! systemd-analyze verify --man=no "$tmp/units/receiptd.service" 2>"$tmp/verify.err"; then
    fail "systemd-analyze verify exited non-zero"
fi
if [[ -s $tmp/verify.err ]]; then
    sed "s#$tmp/units/#systemd/#" "$tmp/verify.err" >&2
    fail "systemd-analyze verify printed diagnostics"
fi

# -- 2. security exposure ------------------------------------------------------------------
echo "== systemd-analyze security (threshold $threshold)"
if ! systemd-analyze security --offline=yes --threshold="$threshold" --no-pager \
    "$units/receiptd.service" >"$tmp/security.out" 2>&1; then
    grep -E '✗' "$tmp/security.out" >&2 || true
    fail "exposure above $threshold/10 (see the ✗ lines; systemd/README.md lists the accepted ones)"
fi
grep -E '^→ Overall exposure' "$tmp/security.out" || fail "no exposure score printed"

# -- 3. udev rules -------------------------------------------------------------------------
echo "== udev rules (udevadm test on fake USB devices)"
rules=$units/60-receiptd.rules
# expect  action  ID_USB_INTERFACES       idVendor idProduct  what
cases=(
    "yes add :070102:                     1234 5678 any printer-class device"
    "yes add :070101:ff0000:              04b8 0e15 Epson TM in printer class"
    "yes add :ff0000:                     04b8 0202 Epson UB-U05 vendor class"
    "yes add :ff0000:                     04b8 0e03 Epson TM-T20 vendor class"
    "no  add :ff0000:                     04b8 0110 Epson scanner"
    "yes add :ff0000:                     0519 0003 Star TSP100"
    "yes add :ff0000:                     1d90 20f0 Citizen CT-E351"
    "yes add :ff0000:                     2730 0fff Citizen CT-S310"
    "yes add :ff0000:                     1504 001f Bixolon SRP-350II"
    "yes add :ff0000:                     0dd4 0237 Custom K80"
    "yes add :ff0000:                     0d3a 0206 Posiflex vendor class"
    "no  add :030000:                     0d3a 0500 Posiflex HID card reader"
    "yes add :ff0000:                     0416 5011 POS-58 Winbond vendor class"
    "yes add :ff0000:                     0fe6 811e Xprinter ICS Advent vendor class"
    "yes add :ff0000:                     0483 5743 Xprinter STM vendor class"
    "no  add :020201:0a0000:              0483 5743 STM32 board, CDC-ACM"
    "no  add :ff0000:                     0483 5740 other STM device"
    "no  add :080650:                     0519 0003 mass storage from a POS vendor"
    "no  remove :070101:                  1234 5678 remove event"
)
for case in "${cases[@]}"; do
    read -r expect action ifaces vendor product what <<<"$case"
    if ! unshare --mount "$0" __udev_case "$rules" "$action" "$ifaces" "$vendor" \
        "$product" >"$tmp/udev.out" 2>&1; then
        cat "$tmp/udev.out" >&2
        fail "udevadm test failed for: $what"
        continue
    fi
    grep -q "^Reading rules file: /run/udev/rules.d/60-receiptd.rules" "$tmp/udev.out" \
        || fail "udevadm did not read the rules file ($what)"
    # Parse diagnostics start with the file name; per-device trace lines with "1-1: ".
    if grep "^/run/udev/rules.d/60-receiptd.rules" "$tmp/udev.out" >&2; then
        fail "udev rules file has errors"
        break
    fi
    got=no
    if grep -qx 'ID_RECEIPTD_PRINTER=1' "$tmp/udev.out"; then
        got=yes
        grep -q '60-receiptd.rules:[0-9]* GROUP 7$' "$tmp/udev.out" \
            || fail "no GROUP=lp for: $what"
        grep -q '60-receiptd.rules:[0-9]* MODE 0660$' "$tmp/udev.out" \
            || fail "no MODE=0660 for: $what"
        grep -qx 'TAGS=.*:systemd:.*' "$tmp/udev.out" || fail "no systemd tag for: $what"
    fi
    if [[ $got == "$expect" ]]; then
        printf '  ok   %-3s %s %s:%s %s\n' "$expect" "$ifaces" "$vendor" "$product" "$what"
    else
        fail "$what ($vendor:$product $ifaces): printer=$got, expected $expect"
    fi
done

# -- 4. sysusers.d / tmpfiles.d in a scratch root ---------------------------------------------
echo "== sysusers.d and tmpfiles.d (scratch root)"
root=$tmp/root
mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
# Debian's base-passwd entries the configuration relies on.
printf 'root:x:0:0:root:/root:/bin/bash\nlp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nlp:x:7:\ndialout:x:20:\n' >"$root/etc/group"
cp "$units/receiptd.sysusers.conf" "$root/usr/lib/sysusers.d/receiptd.conf"
cp "$units/receiptd.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/receiptd.conf"
# With --root, a bare file name is looked up in the root's configuration directories.
(cd / && systemd-sysusers --root="$root" receiptd.conf) >"$tmp/sysusers.out" 2>&1 \
    || { cat "$tmp/sysusers.out" >&2; fail "systemd-sysusers failed"; }
grep -q '^receiptd:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$root/etc/passwd" \
    || fail "sysusers: no user receiptd"
grep -q '^lp:x:7:receiptd$' "$root/etc/group" || fail "sysusers: receiptd not in lp"
grep -q '^dialout:x:20:receiptd$' "$root/etc/group" || fail "sysusers: receiptd not in dialout"
uid=$(awk -F: '$1 == "receiptd" {print $3}' "$root/etc/passwd")
gid=$(awk -F: '$1 == "receiptd" {print $3}' "$root/etc/group")
# A journal left 0644 by hand (owned by the daemon: tmpfiles refuses to follow a root-owned
# file inside a directory owned by another user) and a world-readable config.
mkdir -p "$root/var/lib/receiptd" "$root/etc/receiptd"
touch "$root/var/lib/receiptd/journal.db" "$root/var/lib/receiptd/journal.db-wal"
chown "$uid:$gid" "$root/var/lib/receiptd" "$root"/var/lib/receiptd/journal.db*
chmod 0644 "$root"/var/lib/receiptd/journal.db*
touch "$root/etc/receiptd/receiptd.toml"
chmod 0644 "$root/etc/receiptd/receiptd.toml"
(cd / && systemd-tmpfiles --root="$root" --create receiptd.conf) >"$tmp/tmpfiles.out" 2>&1 \
    || { cat "$tmp/tmpfiles.out" >&2; fail "systemd-tmpfiles --create failed"; }
if [[ -s $tmp/tmpfiles.out ]]; then
    cat "$tmp/tmpfiles.out" >&2
    fail "systemd-tmpfiles printed diagnostics"
fi
while read -r path want; do
    got=$(stat -c '%a %u:%g' "$root$path" 2>/dev/null || echo missing)
    want=${want//U/$uid}
    want=${want//G/$gid}
    if [[ $got == "$want" ]]; then
        printf '  ok   %-34s %s\n' "$path" "$got"
    else
        fail "tmpfiles: $path is '$got', expected '$want'"
    fi
done <<'EOF'
/var/lib/receiptd 700 U:G
/var/lib/receiptd/journal.db 600 U:G
/var/lib/receiptd/journal.db-wal 600 U:G
/var/cache/receiptd 700 U:G
/etc/receiptd 750 0:G
/etc/receiptd/receiptd.toml 640 0:G
EOF

if ((failed)); then
    echo "check-systemd: FAILED" >&2
    exit 1
fi
echo "check-systemd: OK"
