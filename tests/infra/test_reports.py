"""Reports in the template: the rollup aggregator's stream source, the export bucket, the export workflow's task."""

from __future__ import annotations

import json

import pytest

from backinstock import config, infra_spec
from tests.infra.template import (
    READ,
    WRITE,
    Synth,
    function_of_module,
    log_group_of,
    role_grants,
)

pytestmark = pytest.mark.infra
MAIN = infra_spec.MAIN_TABLE.logical_id


def _bucket(synth: Synth) -> tuple[str, dict]:
    ((logical_id, bucket),) = synth.resources("AWS::S3::Bucket").items()
    return logical_id, bucket


def test_the_aggregator_reads_the_stream_with_partial_failures_bisection_and_an_on_failure_queue(synth: Synth) -> None:
    spec = infra_spec.ROLLUP_CONSUMER
    function, _ = function_of_module(synth, spec.handler)
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [MAIN, "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == spec.retry_attempts
    assert mapping["MaximumRecordAgeInSeconds"] == spec.max_record_age_hours * 3600
    assert mapping["BatchSize"] == spec.batch_size
    # Tuned for per-batch writes (infra_spec.ROLLUP_CONSUMER): big batches, a short window, 4 batches per shard
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"], mapping["ParallelizationFactor"]) == (
        1000,
        5,
        4,
    )
    failures = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synth.template["Resources"][failures]["Type"] == "AWS::SQS::Queue"
    # its URL is an output: the runbook's `backinstock reports failures --queue-url` (docs/DEPLOY.md)
    assert synth.template["Outputs"]["RollupFailuresQueueUrl"]["Value"] == {"Ref": failures}
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    entities = list(spec.entities)
    assert patterns == [
        {"dynamodb": {"NewImage": {"entity": {"S": entities}}}},
        {"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"entity": {"S": entities}}}},
    ]


def test_the_aggregator_writes_the_table_reads_its_stream_and_queues_optin_mail_only(synth: Synth) -> None:
    _, props = function_of_module(synth, infra_spec.ROLLUP_CONSUMER.handler)
    granted = role_grants(synth, props)
    granted.pop(log_group_of(props))
    # The table (rollups, markers) and its stream (what the event source mapping reads).
    stream = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
    assert granted.pop(MAIN) == READ | WRITE | stream
    assert granted.pop("arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/*") == {"ses:SendEmail"}
    assert set(granted.pop("*")) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}
    failures = [k for k in granted if "RollupFailures" in k]
    assert [granted.pop(k) for k in failures] == [{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}]
    # The send queue: the stream is the outbox of the double opt-in confirmation (services/optin.py)
    [send_queue] = [k for k in granted if "SendQueue" in k and "DeadLetter" not in k]
    assert "sqs:SendMessage" in granted.pop(send_queue)
    assert "SEND_QUEUE_URL" in props["Environment"]["Variables"]
    assert set(granted) == {f"{MAIN}/index/{i.name}" for i in infra_spec.MAIN_TABLE.indexes}
    assert set(props["Environment"]["Variables"]) <= set(config.AggregatorEnv.model_fields)
    assert "SENDER_EMAIL" in props["Environment"]["Variables"]


def test_the_export_bucket_is_private_encrypted_tls_only_and_expires_files(synth: Synth) -> None:
    logical_id, bucket = _bucket(synth)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == infra_spec.EXPORT_FILE_RETENTION_DAYS
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    (policy,) = synth.resources("AWS::S3::BucketPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["DeletionPolicy"] == "Retain"
    assert logical_id.startswith("ExportsExportBucket")


def test_the_export_task_writes_export_files_only_and_runs_up_to_15_minutes(synth: Synth) -> None:
    ((_, module),) = infra_spec.EXPORT_WORKFLOW.tasks
    _, props = function_of_module(synth, module)
    granted = role_grants(synth, props)
    granted.pop(log_group_of(props))
    bucket, _ = _bucket(synth)
    assert granted.pop(f"{bucket}/exports/*") == {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"}
    assert granted.pop(bucket) == {"s3:ListBucketMultipartUploads"}  # the uploads a killed attempt left open
    assert granted.pop(MAIN) == READ | WRITE
    assert granted.pop("*") == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert set(granted) == {f"{MAIN}/index/{i.name}" for i in infra_spec.MAIN_TABLE.indexes}
    assert props["Timeout"] == 900
    assert props["Environment"]["Variables"]["EXPORT_BUCKET_NAME"] == {"Ref": bucket}
