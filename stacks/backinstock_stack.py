"""The one stack: one construct per concern, composed here and nowhere else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from backinstock.registry import BASE_PATH
from stacks.constructs.api import Api
from stacks.constructs.data import Data
from stacks.constructs.layers import Layers
from stacks.constructs.monitoring import Monitoring


class BackInStockStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_level: str = "INFO",
        alarm_email: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = Data(self, "Data")
        self.layers = Layers(self, "Layers")
        self.api = Api(
            self,
            "Api",
            table=self.data.table,
            index_names=self.data.index_names(),
            layers=self.layers,
            log_level=log_level,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            rest_api=self.api.rest_api,
            functions=self.api.functions,
            authorizer=self.api.authorizer_function,
            table=self.data.table,
            alarm_email=alarm_email,
        )

        CfnOutput(
            self, "ApiBaseUrl", value=self.api.rest_api.url_for_path(BASE_PATH), description="v2 external base URL"
        )
        CfnOutput(self, "TableName", value=self.data.table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
