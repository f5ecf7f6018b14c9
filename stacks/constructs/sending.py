"""Sending: the send worker's `WorkerSpec` (the send queue and its dead-letter queue, the worker: a
`QueueWorker`), the link-signing secret, and the SES statement every function that mails uses.

API actions enqueue (notify, bulk notify, transfer, opt-in mail: `Access.SEND_QUEUE`); the worker consumes the queue
in batches with partial batch failures, sends through SES (email) and SNS (SMS, push), and signs the links of its
messages with the secret (`Access.LINK_SECRET`, which the public link actions also read to verify them). The worker
links customers to the API, so it is added after the API (`send_worker_environment`, given the API's base URL).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from backinstock import config, infra_spec
from backinstock.infra_spec import SEND_QUEUE
from backinstock.registry import Access
from stacks.constructs.queue_workers import WorkerSpec
from stacks.constructs.queues import pin
from stacks.nag import acknowledge, checkov_skip

LINK_SECRET_LOGICAL_ID = "LinkSecret"  # noqa: S105 (a logical ID, not a secret)
LINK_SECRET_LENGTH = 64  # letters and digits: ~380 bits of HMAC key
# Parallel worker invocations the queue may start: the share of the account's Lambda concurrency the worker can
# take from the API. The provider's rate is kept by the pace (services/pacing.py), not by this number: a worker
# waits at most a few seconds for its tokens, so 10 workers keep up with an SES rate of about 10 x 1 / (provider
# call time) ~ 200-500 emails a second; raise it with the account's quota (docs/ARCHITECTURE.md, "The send pace").
SEND_WORKER_MAX_CONCURRENCY = 10

SES_IDENTITIES_FINDING = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]"
)
SES_IDENTITIES_REASON = (
    "ses:SendEmail is authorized against the sender's identity and, while the account is in the SES sandbox, "
    "each recipient's: the resource is this account's identities, and the condition ses:FromAddress pins "
    "the sender to the configured address."
)

# What the worker touches through the grants every function gets (main table read/write, its own queue for
# transfer continuations and deferred sends, the link key, the limiter's table for the send pace's budget items);
# its provider calls are the statements of `provider_statements`.
SEND_WORKER = WorkerSpec(
    name="send_worker",
    construct_id="SendWorker",
    handler="workers.send_worker",  # functions/workers/send_worker.py, `handler`
    queue=SEND_QUEUE,
    access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.SEND_QUEUE, Access.LINK_SECRET, Access.RATE_LIMIT}),
    max_concurrency=SEND_WORKER_MAX_CONCURRENCY,
    purpose="the send queue",
    description="Send worker: send queue -> SES email, SNS SMS and push; transfer pages",
    environment_model=config.WorkerEnv,
    wildcard_reason=(
        "Three actions support no narrower resource: X-Ray tracing (xray:PutTraceSegments, "
        "xray:PutTelemetryRecords), ses:GetSendQuota (the account's sending rate, read by the send pace) "
        "and sns:Publish, which sends SMS to a phone number (PhoneNumber) that "
        "has no ARN; the same statement covers push to SNS platform endpoints, which customers register "
        "at run time. SES sending is pinned to the sender address (ses:FromAddress)."
    ),
    role_findings=((SES_IDENTITIES_FINDING, SES_IDENTITIES_REASON),),
    policy_checkov_skips=(
        (
            "CKV_AWS_111",
            "sns:Publish on *: an SMS goes to a phone number (PhoneNumber), which has no ARN, and push goes to "
            "platform endpoints customers register at run time; every other write names its resource.",
        ),
    ),
)
SEND_WORKER_HANDLER = SEND_WORKER.handler
SEND_WORKER_NAME = SEND_WORKER.name


def send_worker_environment(*, public_base_url: str, sender_email: str) -> dict[str, str]:
    """What the send worker reads besides its grants' variables (`config.WorkerEnv`)."""
    return {
        "SENDER_EMAIL": sender_email,
        "PUBLIC_BASE_URL": public_base_url,
        # The send pace's SNS rates (SES's is the account's, read with ses:GetSendQuota).
        "SMS_SEND_RATE": str(infra_spec.SMS_SEND_RATE),
        "PUSH_SEND_RATE": str(infra_spec.PUSH_SEND_RATE),
    }


def link_secret(scope: Construct) -> secretsmanager.Secret:
    """The HMAC key of the opt-in and unsubscribe links, in `scope` (the send queue's construct, `Sending`)."""
    secret = secretsmanager.Secret(
        scope,
        LINK_SECRET_LOGICAL_ID,
        # No fixed name: CloudFormation names it per stack, so stacks can share an account and a redeploy after
        # `cdk destroy` does not collide with the retained secret. Functions find it by ARN (LINK_SECRET_ARN).
        description="backinstock: HMAC key of the opt-in and unsubscribe links in customers' messages",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=LINK_SECRET_LENGTH, exclude_punctuation=True, include_space=False
        ),
        # Retained: deleting it would break every link already in a customer's inbox (see docs/DEPLOY.md).
        removal_policy=RemovalPolicy.RETAIN,
    )
    pin(secret, LINK_SECRET_LOGICAL_ID)
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "No automatic rotation: the key verifies the opt-in and unsubscribe links already sent to customers, so "
        "rotating it would break every link in their inboxes. Rotate by hand, knowingly (docs/DEPLOY.md).",
    )
    checkov_skip(
        secret,
        "CKV_AWS_149",
        "Encrypted with Secrets Manager's AWS managed key: only the roles with Access.LINK_SECRET may read it "
        "(IAM on the secret's ARN); a customer-managed key would add a key policy for no narrower access.",
    )
    return secret


def ses_send_email_statement(scope: Construct, sender_email: str) -> iam.PolicyStatement:
    """SES authorizes SendEmail against the sender's identity and, in the sandbox, the recipient's too: the
    resource is this account's identities, the condition pins the From address to the configured sender."""
    stack = Stack.of(scope)
    return iam.PolicyStatement(
        actions=["ses:SendEmail"],
        resources=[f"arn:{stack.partition}:ses:{stack.region}:{stack.account}:identity/*"],
        conditions={"StringEquals": {"ses:FromAddress": sender_email}},
    )


def acknowledge_ses_identities(role: iam.IRole) -> None:
    """The identity wildcard of `ses_send_email_statement`, on the role that has it."""
    acknowledge(role, SES_IDENTITIES_FINDING, SES_IDENTITIES_REASON)


def provider_statements(scope: Construct, sender_email: str) -> list[iam.PolicyStatement]:
    return [
        ses_send_email_statement(scope, sender_email),
        # SMS to a phone number has no resource ARN: Publish needs "*" (acknowledged with X-Ray's wildcard).
        iam.PolicyStatement(actions=["sns:Publish"], resources=["*"]),
        # The account's sending quota (MaxSendRate) for the send pace: an account-level read with no resource.
        iam.PolicyStatement(actions=["ses:GetSendQuota"], resources=["*"]),
    ]
