#!/usr/bin/env bash
# Checks of the Prometheus alerting rules in monitoring/, runnable on a Debian 12 machine that
# has the packages in ci/apt-packages.txt (`prometheus` provides promtool; ci/system-deps.sh
# installs them). Needs no root, no network and no running Prometheus. Runs in well under 1 s.
#
#   1. promtool check rules: syntax, PromQL, templates, duplicate rules.
#   2. Every alert has a severity label, a summary and a description, and is exercised by the
#      unit tests both firing (a non-empty exp_alerts) and not firing (exp_alerts: []).
#   3. promtool test rules: the unit tests in monitoring/receiptd.rules.test.yml.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rules=$repo/monitoring/receiptd.rules.yml
tests=$repo/monitoring/receiptd.rules.test.yml

if ! command -v promtool >/dev/null; then
    echo "check-monitoring: promtool not found; run ci/system-deps.sh (Debian package prometheus)" >&2
    exit 1
fi

# -- 1 ---------------------------------------------------------------------------------------
promtool check rules "$rules"

# -- 2 ---------------------------------------------------------------------------------------
# The rules file is flat enough for awk: one "- alert: NAME" line starts each rule.
missing=$(awk '
    function flush() {
        if (name == "") return
        if (!sev)  print name ": no severity label"
        if (!sum)  print name ": no summary annotation"
        if (!desc) print name ": no description annotation"
    }
    /^[[:space:]]*- alert:/ { flush(); name = $3; sev = sum = desc = 0; next }
    /^[[:space:]]*- (record|name):/ { flush(); name = ""; next }
    /^[[:space:]]*severity:[[:space:]]*[a-z]/ { sev = 1 }
    /^[[:space:]]*summary:/ { sum = 1 }
    /^[[:space:]]*description:/ { desc = 1 }
    END { flush() }
' "$rules")
# For each "alertname: X" in the tests, the next line says whether alerts are expected.
coverage=$(awk '
    FNR == NR { if ($1 == "-" && $2 == "alert:") alerts[$3] = 1; next }
    $1 == "alertname:" { name = $2; next }
    name != "" && $1 == "exp_alerts:" { if ($2 == "[]") quiet[name] = 1; else fires[name] = 1 }
    { name = "" }
    END {
        for (a in alerts) {
            if (!(a in fires)) print a ": no test where it fires"
            if (!(a in quiet)) print a ": no test where it must not fire"
        }
    }
' "$rules" "$tests")
if [[ -n $missing$coverage ]]; then
    { [[ -z $missing ]] || echo "$missing"; [[ -z $coverage ]] || echo "$coverage"; } |
        sed 's/^/check-monitoring: /' >&2
    exit 1
fi
echo "  every alert: severity, summary, description; tested firing and not firing"

# -- 3 ---------------------------------------------------------------------------------------
promtool test rules "$tests"
