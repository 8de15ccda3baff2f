"""Fixtures for the Python package tests (run by scripts/test.sh in a fresh venv where
`pip install .` put wis2mon, or by hand: python -m pytest tests/python)."""

import base64
import hashlib
import http.server
import json
import os
import threading
import uuid
from pathlib import Path

import pytest

REFDATA = Path(os.environ.get("WIS2MON_REFDATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "refdata"))
TOPIC = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"


def notification(item="item-1", url="https://example.org/data/1.bufr4", data=None, pubtime="2026-01-01T00:02:16Z",
                 centre="de-dwd", inline=False):
    """A WNM 1.0 notification as a dict; with data, its integrity (and inline content)."""
    props = {
        "data_id": f"{centre}/data/core/weather/surface-based-observations/synop/{item}",
        "metadata_id": f"urn:wmo:md:{centre}:synop",
        "pubtime": pubtime,
        "datetime": "2026-01-01T00:00:00Z",
    }
    if data is not None:
        props["integrity"] = {"method": "sha256", "value": base64.b64encode(hashlib.sha256(data).digest()).decode()}
        if inline:
            props["content"] = {"encoding": "base64", "value": base64.b64encode(data).decode(), "size": len(data)}
    return {
        "id": str(uuid.uuid4()),
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": None,
        "properties": props,
        "links": [{"href": url, "rel": "canonical", "type": "application/bufr"}],
    }


@pytest.fixture
def make_notification():
    return notification


@pytest.fixture
def data_server(tmp_path):
    """A real HTTP server on a free loopback port serving tmp_path/www; paths under /fault/
    answer 500, /slow/ waits. Yields (folder, base URL, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/fault/"):
                self.send_error(500, "injected fault")
                return
            super().do_GET()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()


@pytest.fixture
def refdata():
    if not REFDATA.is_dir():
        pytest.skip("../shared/refdata is absent")
    return REFDATA


def kinesis_event(payloads):
    """A Kinesis Data Streams event as AWS documents it (one record per payload bytes)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"pk-{i}",
                    "sequenceNumber": f"4959033386619998234563839219237{i:04d}",
                    "data": p if isinstance(p, str) else base64.b64encode(p).decode(),
                    "approximateArrivalTimestamp": 1545084650.987,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000006:4959033386619998234563839219237{i:04d}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "eu-central-1",
                "eventSourceARN": "arn:aws:kinesis:eu-central-1:123456789012:stream/wis2",
            }
            for i, p in enumerate(payloads)
        ]
    }


def sqs_event(bodies):
    """An SQS event as AWS documents it (one record per body string)."""
    return {
        "Records": [
            {
                "messageId": f"059f36b4-87a3-44ab-83d2-66197527{i:04d}",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": b,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1545082649183",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1545082649185",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:wis2",
                "awsRegion": "eu-central-1",
            }
            for i, b in enumerate(bodies)
        ]
    }


def firehose_event(payloads):
    """A Firehose data-transformation event as AWS documents it."""
    return {
        "invocationId": "invocationIdExample",
        "deliveryStreamArn": "arn:aws:kinesis:EXAMPLE",
        "region": "eu-central-1",
        "records": [
            {
                "recordId": f"49546986683135544286507457936321625675700192471156785{i:03d}",
                "approximateArrivalTimestamp": 1495072949453,
                "data": p if isinstance(p, str) else base64.b64encode(p).decode(),
            }
            for i, p in enumerate(payloads)
        ],
    }


def dumps(doc):
    return json.dumps(doc).encode()
