"""The embedded AWS backend of the local run: a moto server on 127.0.0.1, with the resources that the CDK stack
creates in AWS, made from the same specs (`backinstock.infra_spec`)."""

from __future__ import annotations

import os
from typing import Any

from backinstock import aws, deps, infra_spec
from backinstock.config import DEFAULT_TABLE_NAME

REGION = "us-east-1"


def local_environment(endpoint: str, table_name: str = DEFAULT_TABLE_NAME) -> dict[str, str]:
    """What a process needs to talk to the local backend: the same variables Lambda gets, plus the endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any credentials; no real account is involved
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": table_name,
        "POWERTOOLS_SERVICE_NAME": "backinstock",
        "POWERTOOLS_METRICS_NAMESPACE": "BackInStock",
    }


def apply_environment(env: dict[str, str]) -> None:
    os.environ.update(env)
    deps.reset()


def start_moto(host: str, port: int) -> Any:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def create_table(spec: infra_spec.TableSpec, name: str) -> None:
    client = aws.client("dynamodb")
    attributes = {spec.partition_key, spec.sort_key}
    for index in spec.indexes:
        attributes.update({index.partition_key, index.sort_key})
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "KeySchema": [
            {"AttributeName": spec.partition_key, "KeyType": "HASH"},
            {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
        ],
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    try:
        client.create_table(**request)
    except client.exceptions.ResourceInUseException:
        return
    if spec.ttl_attribute:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )


def create_resources(table_name: str = DEFAULT_TABLE_NAME) -> None:
    create_table(infra_spec.MAIN_TABLE, table_name)
