"""The Lambda helpers on events shaped as AWS documents them, with valid, invalid,
undecodable and failing records: the responses must have exactly the documented shapes and one
bad record must never fail the batch."""

import base64
import json

import pytest
from conftest import TOPIC, dumps, firehose_event, kinesis_event, notification, sqs_event

import wis2mon
import wis2mon.aws as aws
from wis2mon import _wis2mon
from test_api import CAP


def test_kinesis_valid_invalid_undecodable_and_failing():
    good = [notification(item=f"k{i}") for i in range(4)]
    envelope = {"topic": TOPIC, "notification": notification(item="env")}
    payloads = [dumps(good[0]), b"{not json", dumps(good[1]), "%%%not base64%%%", dumps(envelope), dumps(good[2]),
                dumps(good[3])]
    event = kinesis_event(payloads)
    seen, invalid = [], []

    def on_record(n, meta):
        if n.data_id.endswith("/k2"):
            raise RuntimeError("downstream refused")
        seen.append((n.data_id.rsplit("/", 1)[1], meta["topic"], meta["sequence_number"]))

    stats = aws.BatchStats()
    response = aws.process_kinesis(event, on_record, on_invalid=lambda raw, report: invalid.append((raw, report)),
                                   stats=stats)
    failed_seq = event["Records"][5]["kinesis"]["sequenceNumber"]
    assert response["batchItemFailures"] == [{"itemIdentifier": failed_seq}]
    assert set(response) == {"batchItemFailures", "wis2mon"}
    assert [s[0] for s in seen] == ["k0", "k1", "env", "k3"]
    assert seen[2][1] == TOPIC  # the envelope's topic reached meta (and the topic check)
    assert seen[0][2] == event["Records"][0]["kinesis"]["sequenceNumber"]
    assert len(invalid) == 2  # not JSON, not base64: not failures (retrying cannot fix them)
    assert invalid[0][0] == b"{not json" and not invalid[0][1].valid
    assert invalid[1][1].errors[0]["rule"] == "record.encoding"
    assert (stats.records, stats.ok, stats.invalid, stats.failed) == (7, 4, 2, 1)


def test_kinesis_all_good_returns_empty_failures_and_counts_invalid_without_handler():
    event = kinesis_event([dumps(notification(item="a")), b'{"type": "Feature"}'])
    stats = aws.BatchStats()
    response = aws.process_kinesis(event, lambda n, m: None, stats=stats)
    assert response["batchItemFailures"] == []
    assert response["wis2mon"] == {"records": 2, "ok": 1, "invalid": 1, "failed": 0, "dropped": 0}
    assert stats.invalid == 1
    assert aws.process_kinesis({"Records": []}, lambda n, m: None)["batchItemFailures"] == []


def test_strict_mode_is_passed_through():
    doc = notification()
    doc["properties"]["integrity"] = {"method": "sha256", "value": "00" * 32}
    event = kinesis_event([dumps(doc)])
    ok = []
    aws.process_kinesis(event, lambda n, m: ok.append(n), mode="lenient")
    aws.process_kinesis(event, lambda n, m: ok.append(n), mode="strict")
    assert len(ok) == 1


def test_on_invalid_raising_fails_that_record_only():
    event = sqs_event(["garbage", json.dumps(notification())])

    def broken_dlq(raw, report):
        raise IOError("dlq unavailable")

    response = aws.process_sqs(event, lambda n, m: None, on_invalid=broken_dlq)
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert set(response) == {"batchItemFailures", "wis2mon"}


def test_sqs_plain_envelope_and_sns_wrapped():
    plain = json.dumps(notification(item="s1"))
    envelope = json.dumps({"topic": TOPIC, "payload": json.dumps(notification(item="s2"))})
    sns = json.dumps({"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:eu:1:t",
                      "Message": json.dumps({"topic": TOPIC, "message": notification(item="s3")})})
    event = sqs_event([plain, envelope, sns, "", json.dumps(notification(item="s4"))])
    got = []

    def on_record(n, meta):
        if n.data_id.endswith("s4"):
            raise ValueError("no")
        got.append((n.data_id[-2:], meta["topic"], meta["message_id"], meta["receive_count"]))

    response = aws.process_sqs(event, on_record)
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][4]["messageId"]}]
    assert set(response) == {"batchItemFailures", "wis2mon"}
    assert [g[0] for g in got] == ["s1", "s2", "s3"]
    assert got[0][1] is None and got[1][1] == TOPIC and got[2][1] == TOPIC
    assert got[0][2] == event["Records"][0]["messageId"] and got[0][3] == 1


def test_firehose_ok_dropped_failed_with_ndjson_data():
    bufr = _wis2mon._sample_synop_bufr(15, 15, air_temperature=283.45)
    with_obs = notification(item="f1", data=bufr, inline=True)
    payloads = [dumps(with_obs), dumps(notification(item="f2")), b"nonsense", "!!notbase64",
                dumps(notification(item="boom"))]
    event = firehose_event(payloads)

    def transform(n):
        if n.data_id.endswith("boom"):
            raise RuntimeError("bad")
        if n.data_id.endswith("f2"):
            return []
        data = n.inline_data()
        return [dict(r, data_id=n.data_id) for r in wis2mon.decode_bufr(data)] + [{"kind": "notification"}]

    stats = aws.BatchStats()
    response = aws.process_firehose(event, transform, stats=stats)
    assert set(response) == {"records"}
    results = response["records"]
    assert [r["recordId"] for r in results] == [r["recordId"] for r in event["records"]]
    assert [r["result"] for r in results] == ["Ok", "Dropped", "ProcessingFailed", "ProcessingFailed", "ProcessingFailed"]
    assert all(set(r) == {"recordId", "result", "data"} for r in results)
    lines = base64.b64decode(results[0]["data"]).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["wigos_station_identifier"] == "0-20000-0-15015" and rows[0]["air_temperature"] == 283.45
    assert rows[1] == {"kind": "notification"}
    assert base64.b64decode(results[0]["data"]).endswith(b"\n")
    assert results[2]["data"] == event["records"][2]["data"]  # failed records keep their data
    assert (stats.ok, stats.dropped, stats.failed) == (1, 1, 3)


def test_building_blocks_fetch_and_decode(data_server):
    root, base, requests = data_server
    bufr = _wis2mon._sample_synop_bufr(10, 384, air_temperature=271.15)
    (root / "o.bufr4").write_bytes(bufr)
    n = wis2mon.Notification.parse(dumps(notification(url=f"{base}/o.bufr4", data=bufr)))
    records = aws.decode_records(n, aws.fetch_data(n))
    assert records[0]["wigos_station_identifier"] == "0-20000-0-10384" and records[0]["table"] == "surface_obs"
    missing = wis2mon.Notification.parse(dumps(notification(url=f"{base}/fault/o.bufr4")))
    with pytest.raises(wis2mon.NetworkError):
        aws.fetch_data(missing, downloader=wis2mon.Downloader(max_retries=0))
    raw, topic = aws.unwrap(dumps({"topic": TOPIC, "notification": notification(item="u")}))
    assert topic == TOPIC and json.loads(raw)["properties"]["data_id"].endswith("/u")


def test_examples_handlers(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "python"
    for name in ("kinesis_handler", "sqs_handler", "firehose_handler"):
        spec = importlib.util.spec_from_file_location(name, examples / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setenv("WIS2MON_DB", str(tmp_path / f"{name}.db"))
        spec.loader.exec_module(module)
        bufr = _wis2mon._sample_synop_bufr(15, 15)
        payloads = [dumps(notification(item="e1", data=bufr, inline=True)), b"junk"]
        if name == "kinesis_handler":
            response = module.handler(kinesis_event(payloads), None)
            assert response["batchItemFailures"] == []
            assert set(response) == {"batchItemFailures", "wis2mon"}
        elif name == "sqs_handler":
            response = module.handler(sqs_event([p.decode() for p in payloads]), None)
            assert response["batchItemFailures"] == []
            assert set(response) == {"batchItemFailures", "wis2mon"}
        else:
            # With its topic: decoded; without one or not BUFR: dropped before any fetch (the
            # link is unreachable, so a fetch would fail the record).
            text = notification(item="t", url="http://127.0.0.1:9/none.txt")
            text["links"][0]["type"] = "text/plain"
            payloads = [dumps({"topic": TOPIC, "notification": notification(item="e1", data=bufr, inline=True)}),
                        b"junk", dumps({"topic": TOPIC, "notification": text}),
                        dumps(notification(item="no-topic", url="http://127.0.0.1:9/none.bufr4"))]
            response = module.handler(firehose_event(payloads), None)
            assert [r["result"] for r in response["records"]] == ["Ok", "ProcessingFailed", "Dropped", "Dropped"]


def test_decode_records_skips_undecodable_bufr_without_raising(caplog):
    good = _wis2mon._sample_synop_bufr(15, 15)
    n = wis2mon.Notification.parse(dumps(notification(data=good)))
    rows = aws.decode_records(n, good + good[:-4] + b"XXXX")
    assert len(rows) == 1 and rows[0]["table"] == "surface_obs"
    assert any("BUFR message 2" in r.getMessage() for r in caplog.records)
    cap_doc = notification()
    cap_doc["links"][0]["type"] = "application/cap+xml"
    cap_n = wis2mon.Notification.parse(dumps(cap_doc))
    rows = aws.decode_records(cap_n, CAP)
    assert [r["table"] for r in rows] == ["cap_alerts", "cap_areas"] and rows[0]["identifier"] == "KSTO1055887203"
    text_doc = notification()
    text_doc["links"][0]["type"] = "text/plain"
    assert aws.decode_records(wis2mon.Notification.parse(dumps(text_doc)), b"plain text") == []


def test_a_wrong_event_kind_raises_before_anything_is_processed():
    kinesis = kinesis_event([dumps(notification())])
    sqs = sqs_event([json.dumps(notification())])
    firehose = firehose_event([dumps(notification())])
    seen = []
    for helper, event in ((aws.process_kinesis, sqs), (aws.process_sqs, kinesis), (aws.process_kinesis, firehose),
                          (aws.process_sqs, {"foo": 1}), (aws.process_s3, kinesis), (aws.process_s3, firehose)):
        with pytest.raises(wis2mon.InvalidArgumentError) as e:
            helper(event, lambda n, m: seen.append(n))
        assert "takes" in str(e.value) and "not" in str(e.value)
    with pytest.raises(wis2mon.InvalidArgumentError):
        aws.process_firehose(sqs, lambda n: [])
    mixed = sqs_event([json.dumps(notification())])
    mixed["Records"].append(kinesis["Records"][0])
    with pytest.raises(wis2mon.InvalidArgumentError):
        aws.process_sqs(mixed, lambda n, m: seen.append(n))
    assert seen == []


def test_invalid_records_are_warnings_with_their_reasons(caplog):
    no_id = notification(item="x")
    del no_id["id"]
    event = sqs_event([json.dumps(no_id), json.dumps(notification(item="ok"))])
    caplog.set_level("WARNING", logger="wis2mon.aws")
    response = aws.process_sqs(event, lambda n, m: None)
    assert response["batchItemFailures"] == [] and response["wis2mon"]["invalid"] == 1
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert event["Records"][0]["messageId"] in warnings[0].getMessage() and "id" in warnings[0].getMessage()


def _s3_event(bucket, keys):
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-central-1",
                         "eventTime": "2026-11-30T06:00:00.000Z", "eventName": "ObjectCreated:Put",
                         "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                                "object": {"key": k.replace(" ", "+"), "size": 1}}} for k in keys]}


@pytest.fixture
def s3_server():
    """moto's S3-compatible server on a loopback port (no real object store runs here)."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="eu-central-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="wis2", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    yield client
    server.stop()


def test_s3_notifications_in_every_wrapper_read_the_objects(s3_server):
    import gzip

    s3 = s3_server
    lines = [json.dumps(notification(item=f"n{i}")) for i in range(3)] + ["{broken"]
    s3.put_object(Bucket="wis2", Key="2026/11/30/batch one.ndjson", Body="\n".join(lines).encode())
    s3.put_object(Bucket="wis2", Key="single.json", Body=json.dumps(notification(item="single")).encode())
    s3.put_object(Bucket="wis2", Key="list.json.gz",
                  Body=gzip.compress(json.dumps([notification(item="l1"), notification(item="l2")]).encode()))
    direct = _s3_event("wis2", ["2026/11/30/batch one.ndjson", "single.json"])
    sns = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                        "Sns": {"Type": "Notification", "Message": json.dumps(_s3_event("wis2", ["list.json.gz"]))}}]}
    bridge = {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
              "detail": {"bucket": {"name": "wis2"}, "object": {"key": "single.json"}}}
    got = []

    def on_record(n, meta):
        got.append((n.data_id.rsplit("/", 1)[1], meta.get("key")))

    response = aws.process_s3(direct, on_record, s3_client=s3)
    assert response["wis2mon"] == {"records": 5, "ok": 4, "invalid": 1, "failed": 0, "dropped": 0}
    assert got == [("n0", "2026/11/30/batch one.ndjson"), ("n1", "2026/11/30/batch one.ndjson"),
                   ("n2", "2026/11/30/batch one.ndjson"), ("single", "single.json")]
    got.clear()
    aws.process_s3(sns, on_record, s3_client=s3)
    assert [g[0] for g in got] == ["l1", "l2"]
    got.clear()
    aws.process_s3(bridge, on_record, s3_client=s3)
    assert got == [("single", "single.json")]
    assert aws.process_s3({"Event": "s3:TestEvent", "Bucket": "wis2"}, on_record, s3_client=s3)["objects"] == 0

    # Through SQS (S3 -> SQS, S3 -> SNS -> SQS): failures per message.
    got.clear()
    sns_body = json.dumps({"Type": "Notification", "Message": json.dumps(_s3_event("wis2", ["single.json"]))})
    event = sqs_event([json.dumps(_s3_event("wis2", ["list.json.gz"])), sns_body,
                       json.dumps(_s3_event("wis2", ["missing.json"])), json.dumps(notification(item="plain"))])
    response = aws.process_sqs(event, on_record, s3_client=s3)
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][2]["messageId"]}]
    assert [g[0] for g in got] == ["l1", "l2", "single", "plain"]
    assert aws.process_s3(event, on_record, s3_client=s3)["batchItemFailures"] == response["batchItemFailures"]

    # A record failing in an object read directly: the event raises once all were processed.
    def refuse_n1(n, meta):
        if n.data_id.endswith("/n1"):
            raise RuntimeError("store down")

    with pytest.raises(wis2mon.Error) as e:
        aws.process_s3(direct, refuse_n1, s3_client=s3)
    assert "batch one.ndjson" in str(e.value)


def test_firehose_response_stays_under_6_mb():
    event = firehose_event([dumps(notification(item=f"big{i}")) for i in range(8)])
    row = {"blob": "x" * (1024 * 1024)}  # each record's transformed data: about 1.4 MB in base64
    stats = aws.BatchStats()
    response = aws.process_firehose(event, lambda n: [row], stats=stats)
    size = len(json.dumps(response))
    assert size <= aws.FIREHOSE_RESPONSE_LIMIT
    results = [r["result"] for r in response["records"]]
    assert results[:4] == ["Ok"] * 4 and set(results[4:]) == {"ProcessingFailed"}
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert (stats.ok, stats.failed) == (4, 4)


def _fifo(event, groups):
    """The same event as from a FIFO queue: its ARN ends in .fifo, each message has a group."""
    for rec, group in zip(event["Records"], groups):
        rec["eventSourceARN"] = "arn:aws:sqs:eu-central-1:123456789012:wis2.fifo"
        rec["attributes"].update(MessageGroupId=group, SequenceNumber=str(len(group)), MessageDeduplicationId=group)
    return event


def test_sqs_fifo_returns_the_rest_unprocessed_after_a_failure(caplog):
    items = ["a1", "b1", "a2", "b2", "a3"]
    groups = ["a", "b", "a", "b", "a"]

    def run(**kw):
        event = _fifo(sqs_event([json.dumps(notification(item=i)) for i in items]), groups)
        seen = []

        def on_record(n, meta):
            seen.append(n.data_id.rsplit("/", 1)[-1])
            if seen[-1] == "b1":
                raise RuntimeError("database down")

        response = aws.process_sqs(event, on_record, **kw)
        ids = [r["messageId"] for r in event["Records"]]
        return seen, [f["itemIdentifier"] for f in response["batchItemFailures"]], ids, response["wis2mon"]

    # Default: nothing after the failed message is processed; all of it is returned.
    seen, failed, ids, counts = run()
    assert seen == ["a1", "b1"]
    assert failed == ids[1:]
    assert counts["records"] == 5 and counts["ok"] == 1 and counts["failed"] == 4
    assert "returned unprocessed" in caplog.text
    # fifo_skip_group: only the failed message's group stops; group a goes on in order.
    seen, failed, ids, counts = run(fifo_skip_group=True)
    assert seen == ["a1", "b1", "a2", "a3"]
    assert failed == [ids[1], ids[3]]
    assert counts["ok"] == 3 and counts["failed"] == 2
    # A standard queue is not held back by a failure.
    event = sqs_event([json.dumps(notification(item=i)) for i in items])
    seen = []

    def fail_b1(n, meta):
        seen.append(n.data_id.rsplit("/", 1)[-1])
        if seen[-1] == "b1":
            raise RuntimeError("database down")

    response = aws.process_sqs(event, fail_b1)
    assert seen == items
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][1]["messageId"]]
