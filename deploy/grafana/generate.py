#!/usr/bin/env python3
"""deploy/grafana/generate.py — writes zkcar-dashboard.json beside it.

The dashboard is generated so that its panels stay consistent (one data source
variable, one job selector, grid positions); edit here and run
`python3 deploy/grafana/generate.py`. tests/e2e/test_deploy.sh checks the
result (valid JSON, every expression parses, only exported metrics), and
tests/e2e/test_basic.mjs against a live daemon's /metrics.
"""
import os
import json
ds = {"type": "prometheus", "uid": "${datasource}"}
panels = []
pid = [0]
def panel(title, exprs, x, y, w=8, h=8, kind="timeseries", unit="short", desc=""):
    pid[0] += 1
    p = {"id": pid[0], "type": kind, "title": title, "description": desc, "datasource": ds,
         "gridPos": {"x": x, "y": y, "w": w, "h": h},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "options": {},
         "targets": [{"refId": chr(65 + i), "datasource": ds, "expr": e, "legendFormat": l}
                     for i, (e, l) in enumerate(exprs)]}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area"}
    panels.append(p)
def row(title, y):
    pid[0] += 1
    panels.append({"id": pid[0], "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
J = '{job="$job"}'
PROVEN = '{job="$job",status="proven"}'
SEALED = '{job="$job",status="sealed"}'
row("Overview", 0)
panel("L2 accounts", [(f"zkcar_accounts{J}", "accounts")], 0, 1, 4, 4, "stat")
panel("Mempool", [(f"zkcar_mempool_transactions{J}", "pending")], 4, 1, 4, 4, "stat")
panel("Batches proven", [(f"sum(zkcar_batches_total{PROVEN})", "proven")], 8, 1, 4, 4, "stat")
panel("Proving lag (sealed − proven)", [(f"sum(zkcar_batches_total{SEALED}) - sum(zkcar_batches_total{PROVEN})", "batches")], 12, 1, 4, 4, "stat")
panel("Deposits credited", [(f"zkcar_deposits_credited_total{J}", "deposits")], 16, 1, 4, 4, "stat")
panel("Latency backend", [(f"zkcar_latency_backend_info{J}", "{{backend}}")], 20, 1, 4, 4, "stat",
      desc="bpf: eBPF probes measure the prover stages; userspace: in-process timers")
row("L1", 5)
panel("L1 head and confirmed block", [(f"zkcar_l1_head_block{J}", "head"), (f"zkcar_l1_confirmed_block{J}", "confirmed")], 0, 6, 8, 8, unit="none")
panel("Confirmation lag (blocks)", [(f"zkcar_l1_head_block{J} - zkcar_l1_confirmed_block{J}", "head − confirmed")], 8, 6, 8, 8, unit="none")
panel("Deposits per minute", [(f"rate(zkcar_deposits_credited_total{J}[5m]) * 60", "credited/min"),
                              (f"rate(zkcar_deposits_reorged_total{J}[5m]) * 60", "reorged before confirmation/min"),
                              (f"zkcar_deposits_pending{J}", "pending confirmations (now)")], 16, 6, 8, 8,
      desc="a reorged deposit left the L1 chain before its confirmations and is never credited")
row("L2 transactions", 14)
panel("Transactions per second by type and result", [(f"sum by (type, result) (rate(zkcar_l2_transactions_total{J}[1m]))", "{{type}} {{result}}")], 0, 15, 12, 8, unit="ops")
panel("Mempool", [(f"zkcar_mempool_transactions{J}", "accepted, unsealed")], 12, 15, 12, 8)
row("Batches and proving", 23)
panel("Batches per minute by status", [(f"sum by (status) (rate(zkcar_batches_total{J}[5m])) * 60", "{{status}}")], 0, 24, 8, 8)
panel("Batch proving time", [
    (f"histogram_quantile(0.5, sum by (le) (rate(zkcar_batch_prove_seconds_bucket{J}[5m])))", "p50"),
    (f"histogram_quantile(0.95, sum by (le) (rate(zkcar_batch_prove_seconds_bucket{J}[5m])))", "p95"),
    (f"rate(zkcar_batch_prove_seconds_sum{J}[5m]) / rate(zkcar_batch_prove_seconds_count{J}[5m])", "mean")], 8, 24, 8, 8, unit="s")
panel("Prover stage time p95 by stage", [
    (f"histogram_quantile(0.95, sum by (le, stage) (rate(zkcar_prover_stage_seconds_bucket{J}[5m])))", "{{stage}}")], 16, 24, 8, 8, unit="s")
panel("Prover busy share by stage", [
    (f"sum by (stage) (rate(zkcar_prover_stage_seconds_sum{J}[5m]))", "{{stage}}")], 0, 32, 12, 8, unit="percentunit",
    desc="seconds spent per second in each stage")
panel("Prover stage runs per second", [
    (f"sum by (stage) (rate(zkcar_prover_stage_seconds_count{J}[5m]))", "{{stage}}")], 12, 32, 12, 8, unit="ops")

row("API (JSON-RPC)", 40)
panel("Requests per second by method and outcome", [
    (f"sum by (method, result) (rate(zkcar_api_requests_total{J}[1m]))", "{{method}} {{result}}")], 0, 41, 8, 8, unit="reqps")
panel("Request latency p99 by method", [
    (f"histogram_quantile(0.99, sum by (le, method) (rate(zkcar_api_request_seconds_bucket{J}[5m])))", "{{method}}")], 8, 41, 8, 8, unit="s",
    desc="sendTransaction includes its durable commit")
panel("HTTP responses by status code", [
    (f"sum by (code) (rate(zkcar_api_http_responses_total{J}[1m]))", "{{code}}")], 16, 41, 8, 8, unit="reqps",
    desc="413: bodies over the cap")

dash = {
  "title": "zkcar", "uid": "zkcar-overview", "description": "zkcar ZK-rollup sidecar: L1 following, L2 ingest, batches and proving (SPEC §5 metrics), the API",
  "tags": ["zkcar", "rollup"], "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True,
  "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}, "hide": 0},
    {"name": "job", "type": "query", "label": "Job", "datasource": ds,
     "query": "label_values(zkcar_accounts, job)", "refresh": 2, "current": {"text": "zkcar", "value": "zkcar"}, "hide": 0}]},
  "annotations": {"list": []},
  "panels": panels,
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "zkcar-dashboard.json"), "w") as f:
    json.dump(dash, f, indent=2, ensure_ascii=False)
    f.write("\n")
