"""Runs examples/python/kinesis_handler.py as Lambda would from a layer: the handler's folder
is the task root, the layer is unpacked at /opt (its python/ on sys.path), the interpreter is
a plain one without pip's packages. scripts/check-wheels.sh runs it in a clean Debian root
after examples/lambda/build-layer.sh made the layer; it exits non-zero on any mismatch.

    PYTHONPATH=/opt/python python3 tests/lambda/layer_smoke.py examples/python"""

import base64
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import uuid

task_root = sys.argv[1]
sys.path.insert(0, task_root)
db = os.path.join(tempfile.mkdtemp(), "wis2mon.db")
os.environ["WIS2MON_DB"] = db

import wis2mon  # noqa: E402  (from the layer)
from wis2mon import _wis2mon  # noqa: E402

assert wis2mon.__file__.startswith("/opt/python/"), wis2mon.__file__
import kinesis_handler  # noqa: E402

bufr = _wis2mon._sample_synop_bufr(15, 15)  # a real BUFR message, encoded by ecCodes
notification = {
    "id": str(uuid.uuid4()),
    "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
    "type": "Feature",
    "geometry": None,
    "properties": {
        "data_id": "de-dwd/data/core/weather/surface-based-observations/synop/layer-1",
        "metadata_id": "urn:wmo:md:de-dwd:synop",
        "pubtime": "2026-11-30T06:02:16Z",
        "datetime": "2026-11-30T06:00:00Z",
        "integrity": {"method": "sha256", "value": base64.b64encode(hashlib.sha256(bufr).digest()).decode()},
        "content": {"encoding": "base64", "value": base64.b64encode(bufr).decode(), "size": len(bufr)},
    },
    "links": [{"href": "https://example.org/layer-1.bufr4", "rel": "canonical", "type": "application/bufr"}],
}
records = []
for i, payload in enumerate([json.dumps(notification).encode(), b"not a notification"]):
    records.append({
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "k", "sequenceNumber": f"4959{i:020d}",
                    "data": base64.b64encode(payload).decode(), "approximateArrivalTimestamp": 1764482536.0},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:4959{i:020d}",
        "eventName": "aws:kinesis:record", "awsRegion": "eu-central-1",
        "eventSourceARN": "arn:aws:kinesis:eu-central-1:123456789012:stream/wis2",
    })
response = kinesis_handler.handler({"Records": records}, None)
assert response["batchItemFailures"] == [], response
assert response["wis2mon"]["ok"] == 1 and response["wis2mon"]["invalid"] == 1, response
rows = sqlite3.connect(db).execute("SELECT wsi, observed_at FROM surface_obs").fetchall()
assert len(rows) >= 1 and all(r[0] for r in rows), rows
print(f"layer smoke: wis2mon {wis2mon.__version__} from {os.path.dirname(wis2mon.__file__)}: "
      f"{response['wis2mon']}, {len(rows)} surface_obs row(s)")
