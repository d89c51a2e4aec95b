#!/usr/bin/env bash
# deploy/ checked with the real tools: the alert rules and the scrape config
# with promtool (syntax, and `promtool test rules` on tests/e2e/alerts_test.yml:
# each alert fires on its situation and not on a healthy series), every PromQL
# expression of the Grafana dashboard parses (promtool, as recording rules),
# the dashboard is valid JSON naming only exported metrics, the systemd
# unit passes `systemd-analyze verify`, and `zkcar run` accepts
# deploy/zkcar.ini. (tests/e2e/test_basic.mjs checks the dashboard and the
# rules against a live daemon's /metrics as well.)
set -euo pipefail
src="${ZKCAR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
deploy="$src/deploy"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# quiet CMD…: runs CMD; on failure prints its output and fails.
quiet() {
    local out
    if ! out="$("$@" 2>&1)"; then
        printf '%s\n' "$out" >&2
        fail "$*"
    fi
}

command -v promtool >/dev/null || fail "promtool not found (Debian package prometheus; scripts/setup.sh installs it)"

quiet promtool check rules "$deploy/prometheus/alerts.yml"
(cd "$deploy/prometheus" && quiet promtool check config prometheus.yml)
cp "$deploy/prometheus/alerts.yml" "$src/tests/e2e/alerts_test.yml" "$tmp/"
(cd "$tmp" && quiet promtool test rules alerts_test.yml)
echo "alerts.yml: rules valid, promtool test rules passes; prometheus.yml valid"

# The dashboard: JSON, unique panel ids, every target's expression parses, and
# names only metrics of SPEC §5 and the API's.
node - "$deploy/grafana/zkcar-dashboard.json" "$tmp/dashboard_rules.yml" <<'JS'
const fs = require('fs');
const [file, out] = process.argv.slice(2);
const d = JSON.parse(fs.readFileSync(file, 'utf8'));
const die = (m) => { console.error(`FAIL: ${file}: ${m}`); process.exit(1); };
if (d.title !== 'zkcar' || !Array.isArray(d.panels) || d.panels.length === 0) die('no title or panels');
const spec = new Set(['zkcar_l1_head_block', 'zkcar_l1_confirmed_block', 'zkcar_deposits_credited_total',
  'zkcar_l2_transactions_total', 'zkcar_mempool_transactions', 'zkcar_accounts', 'zkcar_batches_total',
  'zkcar_batch_prove_seconds', 'zkcar_prover_stage_seconds', 'zkcar_latency_backend_info',
  // the API's own (sidecar/api.c), beyond SPEC §5
  'zkcar_api_requests_total', 'zkcar_api_request_seconds', 'zkcar_api_http_responses_total',
  // the node's deposits seen but not confirmed (sidecar/node.c), beyond SPEC §5
  'zkcar_deposits_pending', 'zkcar_deposits_reorged_total']);
const histograms = new Set(['zkcar_batch_prove_seconds', 'zkcar_prover_stage_seconds', 'zkcar_api_request_seconds']);
const ids = new Set();
const exprs = [];
for (const p of d.panels) {
  if (ids.has(p.id)) die(`panel id ${p.id} twice`);
  ids.add(p.id);
  if (p.type === 'row') continue;
  if (!p.gridPos || !Array.isArray(p.targets) || p.targets.length === 0) die(`panel "${p.title}" has no targets`);
  for (const t of p.targets) {
    for (const m of t.expr.match(/zkcar_[a-z0-9_]+/g) || []) {
      const base = m.replace(/_(bucket|sum|count)$/, '');
      if (!spec.has(m) && !(histograms.has(base) && base !== m)) die(`panel "${p.title}" names ${m}, not a metric the daemon exports`);
      if (histograms.has(m)) die(`panel "${p.title}" uses histogram ${m} without _bucket/_sum/_count`);
    }
    exprs.push(t.expr.replace(/\$job/g, 'zkcar'));
  }
}
// Recording rules so that promtool parses every expression.
const lines = ['groups:', '  - name: dashboard', '    rules:'];
exprs.forEach((e, i) => lines.push(`      - record: dashboard:expr${i}`, `        expr: ${JSON.stringify(e)}`));
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`zkcar-dashboard.json: ${d.panels.length} panels, ${exprs.length} expressions, known metrics only`);
JS
quiet promtool check rules "$tmp/dashboard_rules.yml"
echo "zkcar-dashboard.json: every expression parses"

# The systemd unit, with ExecStart pointing at a binary that exists here.
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/local/bin/zkcar#/bin/true#" "$deploy/zkcar.service" >"$tmp/zkcar.service"
    out="$(systemd-analyze verify "$tmp/zkcar.service" 2>&1)" || fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    echo "zkcar.service: systemd-analyze verify clean"
else
    echo "systemd-analyze not installed: unit not verified"
fi
# The config file: every key is one `zkcar run` knows (an unknown key is exit
# 2 at once). With an unreachable L1 the daemon keeps retrying; SIGTERM then
# stops it with exit 0.
bin="${ZKCAR_BIN:-$src/build/zkcar}"
if [ -x "$bin" ]; then
    "$bin" run --config "$deploy/zkcar.ini" --l1-rpc http://127.0.0.1:1 --data-dir "$tmp/data" \
        --api 127.0.0.1:1 --metrics 127.0.0.1:1 >"$tmp/run.log" 2>&1 &
    pid=$!
    sleep 1.5
    if ! kill -0 "$pid" 2>/dev/null; then
        rc=0; wait "$pid" || rc=$?
        cat "$tmp/run.log" >&2
        fail "zkcar run --config deploy/zkcar.ini exited $rc"
    fi
    kill -TERM "$pid"
    rc=0; wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$tmp/run.log" >&2; fail "zkcar run --config deploy/zkcar.ini: exit $rc after SIGTERM"; }
    echo "zkcar.ini: accepted by zkcar run"
else
    fail "$bin not built"
fi
echo "PASS"
