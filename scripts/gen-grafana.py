#!/usr/bin/env python3
"""Writes the Grafana dashboards under share/wis2mon/grafana/ (run it after changing a panel;
tests/cli/test_grafana.py runs every query against real Prometheus and InfluxDB servers)."""
import json
import pathlib

def panel(pid, title, kind, x, y, w, h, ds, targets, unit="short", description="", options=None, field=None):
    p = {"id": pid, "type": kind, "title": title, "description": description,
         "datasource": ds, "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "targets": targets,
         "fieldConfig": {"defaults": dict({"unit": unit}, **(field or {})), "overrides": []},
         "options": options or {}}
    return p

PROM = {"type": "prometheus", "uid": "${datasource}"}
def prom(expr, legend="", instant=False, ref="A"):
    t = {"refId": ref, "datasource": PROM, "expr": expr, "legendFormat": legend}
    if instant:
        t["instant"] = True
        t["format"] = "table"
    return t

SEL = 'instance=~"$instance"'
CSEL = 'instance=~"$instance", centre_id=~"$centre"'
panels = []
def add(*a, **k):
    panels.append(panel(len(panels) + 1, *a, **k))

add("Brokers connected", "stat", 0, 0, 6, 4, PROM, [prom(f"sum(wmo_wis2_gb_connected_flag{{{SEL}}})", "connected")],
    description="Broker connections up (wmo_wis2_gb_connected_flag)")
add("Spool", "stat", 6, 0, 6, 4, PROM, [prom(f"sum(wis2mon_spool_entries{{{SEL}}})", "entries")],
    description="Messages waiting in the spool")
add("Sinks healthy", "stat", 12, 0, 6, 4, PROM, [prom(f"min(wis2mon_sink_healthy{{{SEL}}})", "healthy")],
    description="1 when every sink passed its latest healthcheck")
add("Dead letters (1 h)", "stat", 18, 0, 6, 4, PROM,
    [prom(f"sum(increase(wis2mon_dead_letters_total{{{SEL}}}[1h]))", "dead letters")])
add("Messages per second, per centre", "timeseries", 0, 4, 12, 8, PROM,
    [prom(f"sum by (centre_id) (rate(wmo_wis2_gb_messages_received_total{{{CSEL}}}[$__rate_interval]))", "{{centre_id}}")],
    unit="reqps")
add("Invalid and duplicate messages per second", "timeseries", 12, 4, 12, 8, PROM,
    [prom(f"sum by (centre_id) (rate(wmo_wis2_gb_messages_invalid_format_total{{{CSEL}}}[$__rate_interval]))",
          "invalid {{centre_id}}"),
     prom(f"sum by (centre_id) (rate(wis2mon_messages_duplicate_total{{{CSEL}}}[$__rate_interval]))",
          "duplicate {{centre_id}}", ref="B")],
    unit="reqps")
add("Time since the last message, per centre", "table", 0, 12, 12, 8, PROM,
    [prom(f"time() - max by (centre_id) (wmo_wis2_gb_last_message_timestamp_seconds{{{CSEL}}})", "{{centre_id}}",
          instant=True)], unit="s")
add("Validation findings, per rule (1 h)", "table", 12, 12, 12, 8, PROM,
    [prom(f"sum by (rule, severity) (increase(wis2mon_validation_rule_total{{{SEL}}}[1h]))", "{{rule}}",
          instant=True)])
add("Downloads per second, per data server", "timeseries", 0, 20, 12, 8, PROM,
    [prom(f"sum by (server) (rate(wis2mon_downloads_total{{{SEL}}}[$__rate_interval]))", "{{server}}")], unit="reqps")
add("Download errors per second, per data server and status", "timeseries", 12, 20, 12, 8, PROM,
    [prom(f"sum by (server, status) (rate(wis2mon_download_errors_total{{{SEL}}}[$__rate_interval]))",
          "{{server}} {{status}}")], unit="reqps")
add("Download duration p95, per data server", "timeseries", 0, 28, 12, 8, PROM,
    [prom(f"histogram_quantile(0.95, sum by (le, server) (rate(wis2mon_download_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
          "{{server}}")], unit="s")
add("Integrity failures, per centre (1 h)", "timeseries", 12, 28, 12, 8, PROM,
    [prom(f"sum by (centre_id) (increase(wmo_wis2_gc_integrity_failed_total{{{CSEL}}}[1h]))", "{{centre_id}}")])
add("Records waiting, per sink", "timeseries", 0, 36, 12, 8, PROM,
    [prom(f"sum by (sink) (wis2mon_sink_queued{{{SEL}}})", "{{sink}}")])
add("Dead letters, per stage (1 h)", "timeseries", 12, 36, 12, 8, PROM,
    [prom(f"sum by (stage) (increase(wis2mon_dead_letters_total{{{SEL}}}[1h]))", "{{stage}}")])

prom_dash = {
    "title": "wis2mon: monitor", "uid": "wis2mon-monitor", "description":
    "A wis2mon monitor's own metrics, scraped from its /metrics endpoint (share/wis2mon/grafana; docs/dashboard.md)",
    "tags": ["wis2", "wis2mon"], "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
    "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "timezone": "utc",
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "current": {}},
        {"name": "instance", "label": "Monitor", "type": "query", "datasource": PROM,
         "definition": "label_values(wis2mon_spool_entries, instance)",
         "query": {"query": "label_values(wis2mon_spool_entries, instance)", "refId": "instance"},
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {}},
        {"name": "centre", "label": "Centre", "type": "query", "datasource": PROM,
         "definition": "label_values(wmo_wis2_gb_messages_received_total, centre_id)",
         "query": {"query": "label_values(wmo_wis2_gb_messages_received_total, centre_id)", "refId": "centre"},
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {}},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}

INFLUX = {"type": "influxdb", "uid": "${datasource}"}
def influx(query, alias="", ref="A", fmt="time_series"):
    return {"refId": ref, "datasource": INFLUX, "rawQuery": True, "query": query, "alias": alias,
            "resultFormat": fmt}
panels = []
ST = "\"wigos_station_identifier\" =~ /^$station$/"
add("Observations per hour", "timeseries", 0, 0, 12, 8, INFLUX,
    [influx(f"SELECT count(\"air_temperature\") FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY time($__interval) fill(none)", "observations")])
add("Mean air temperature per territory", "timeseries", 12, 0, 12, 8, INFLUX,
    [influx(f"SELECT mean(\"air_temperature\") - 273.15 FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY time($__interval), \"territory\" fill(none)",
            "$tag_territory")], unit="celsius",
    description="territory comes from the enrichment table (pipelines[].enrich), written as a tag by the InfluxDB sink")
add("Wind speed, mean and gusts", "timeseries", 0, 8, 12, 8, INFLUX,
    [influx(f"SELECT mean(\"wind_speed\") FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY time($__interval) fill(none)", "mean wind"),
     influx(f"SELECT max(\"wind_speed\") FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY time($__interval) fill(none)", "max wind", ref="B")],
    unit="velocityms")
add("Mean sea level pressure", "timeseries", 12, 8, 12, 8, INFLUX,
    [influx(f"SELECT mean(\"msl_pressure\") / 100 FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY time($__interval) fill(none)", "msl pressure")],
    unit="pressurehpa")
add("Latest observation per station", "table", 0, 16, 24, 10, INFLUX,
    [influx(f"SELECT last(\"air_temperature\") - 273.15 AS \"air temperature\", last(\"wind_speed\") AS \"wind speed\", last(\"msl_pressure\") / 100 AS \"msl pressure\" FROM \"surface_obs\" WHERE $timeFilter AND {ST} GROUP BY \"wigos_station_identifier\", \"territory\"",
            fmt="table")])
add("Notifications per centre", "timeseries", 0, 26, 12, 8, INFLUX,
    [influx("SELECT count(\"id\") FROM \"notifications\" WHERE $timeFilter GROUP BY time($__interval), \"centre_id\" fill(none)", "$tag_centre_id")])
add("CAP alerts per severity", "timeseries", 12, 26, 12, 8, INFLUX,
    [influx("SELECT count(\"identifier\") FROM \"cap_alerts\" WHERE $timeFilter GROUP BY time($__interval), \"severity\" fill(none)", "$tag_severity")])

influx_dash = {
    "title": "wis2mon: observations", "uid": "wis2mon-observations", "description":
    "Decoded surface observations, notifications and CAP alerts as a wis2mon InfluxDB sink writes them, enriched with a station table (share/wis2mon/grafana; docs/dashboard.md)",
    "tags": ["wis2", "wis2mon"], "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
    "time": {"from": "now-24h", "to": "now"}, "refresh": "1m", "timezone": "utc",
    "templating": {"list": [
        {"name": "datasource", "label": "InfluxDB", "type": "datasource", "query": "influxdb", "current": {}},
        {"name": "station", "label": "Station", "type": "query", "datasource": INFLUX,
         "definition": "SHOW TAG VALUES FROM \"surface_obs\" WITH KEY = \"wigos_station_identifier\"",
         "query": "SHOW TAG VALUES FROM \"surface_obs\" WITH KEY = \"wigos_station_identifier\"",
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {}},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}
for name, d in (("wis2mon-monitor.json", prom_dash), ("wis2mon-observations.json", influx_dash)):
    with open(pathlib.Path(__file__).resolve().parents[1] / "share" / "wis2mon" / "grafana" / name, "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
