"""The one table of template resource types: what the local runtime does with each, and its names.

Each type is created in moto, emulated by the runtime, or ignored; a type missing from the table
stops the start with its name. The table also says how a resource is named, what `Ref` and
`Fn::GetAtt` return for it, and, for the types moto holds, how to create it.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Action = Literal["create", "emulate", "ignore"]

LIVE = "<live>"
"""Marks a value known only once moto created the resource (a stream ARN, a secret's ARN)."""


class ResourceError(Exception):
    """A resource the runtime cannot create as the template declares it."""


class Provisioner(Protocol):
    """What a creator needs: clients of the moto server, and the region."""

    region: str

    def client(self, service: str) -> Any: ...


Creator = Callable[[Provisioner, str, Mapping[str, Any]], dict[str, str]]
"""Creates one resource in moto from its physical name and resolved properties; returns live values."""


@dataclass(frozen=True)
class ResourceType:
    action: Action
    note: str
    name_property: str | None = None
    ref: str = "{name}"
    arn: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    lowercase_name: bool = False
    create: Creator | None = None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _create_table(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    dynamodb = p.client("dynamodb")
    billing = props.get("BillingMode", "PROVISIONED")
    throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        args["ProvisionedThroughput"] = throughput
    indexes = []
    for index in props.get("GlobalSecondaryIndexes") or []:
        gsi = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = index.get("ProvisionedThroughput") or throughput
        indexes.append(gsi)
    if indexes:
        args["GlobalSecondaryIndexes"] = indexes
    local = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in props.get("LocalSecondaryIndexes") or []
    ]
    if local:
        args["LocalSecondaryIndexes"] = local
    stream = props.get("StreamSpecification")
    if stream:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    description = dynamodb.create_table(**args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and _flag(ttl.get("Enabled")):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    return {"StreamArn": description["LatestStreamArn"]} if stream else {}


_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _create_queue(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    attributes = {key: _attribute_text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    p.client("sqs").create_queue(QueueName=name, Attributes=attributes)
    return {}


def _create_bucket(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    """The bucket and its CORS rules; its notifications to functions are set up by the runtime
    (s3_notifications.py)."""
    args: dict[str, Any] = {"Bucket": name}
    if p.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": p.region}
    p.client("s3").create_bucket(**args)
    rules = (props.get("CorsConfiguration") or {}).get("CorsRules")
    if rules:
        # the pages that PUT to the bucket are served by the local gateway: its origin is allowed too
        local_origin = getattr(p, "url", "")
        p.client("s3").put_bucket_cors(
            Bucket=name, CORSConfiguration={"CORSRules": [_cors_rule(rule, local_origin) for rule in rules]}
        )
    return {}


_CORS_NAMES = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
"""CloudFormation's names of a CORS rule's properties that S3's API spells otherwise."""


def _cors_rule(rule: Mapping[str, Any], local_origin: str = "") -> dict[str, Any]:
    found = {_CORS_NAMES.get(name, name): value for name, value in rule.items()}
    if local_origin and "AllowedOrigins" in found:
        found["AllowedOrigins"] = [*found["AllowedOrigins"], local_origin]
    return found


def _secret_string(spec: Mapping[str, Any]) -> str:
    """What Secrets Manager makes of a GenerateSecretString specification (moto does not do it)."""
    alphabet = ""
    if not _flag(spec.get("ExcludeLowercase")):
        alphabet += string.ascii_lowercase
    if not _flag(spec.get("ExcludeUppercase")):
        alphabet += string.ascii_uppercase
    if not _flag(spec.get("ExcludeNumbers")):
        alphabet += string.digits
    if not _flag(spec.get("ExcludePunctuation")):
        alphabet += string.punctuation
    if _flag(spec.get("IncludeSpace")):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(char for char in alphabet if char not in excluded)
    if not alphabet:
        raise ResourceError("GenerateSecretString leaves no character to choose from")
    length = int(spec.get("PasswordLength", 32))
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    if template is None:
        return password
    key = spec.get("GenerateStringKey")
    if not key:
        raise ResourceError("SecretStringTemplate needs a GenerateStringKey")
    document = json.loads(template)
    document[key] = password
    return json.dumps(document)


def _create_secret(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    if "SecretString" in props:
        value = str(props["SecretString"])
    else:
        value = _secret_string(props.get("GenerateSecretString") or {})
    args: dict[str, Any] = {"Name": name, "SecretString": value}
    if props.get("Description"):
        args["Description"] = props["Description"]
    arn = p.client("secretsmanager").create_secret(**args)["ARN"]
    return {"Ref": arn, "Id": arn, "Arn": arn}


def _create_event_bus(p: Provisioner, name: str, _props: Mapping[str, Any]) -> dict[str, str]:
    if name != "default":
        p.client("events").create_event_bus(Name=name)
    return {}


def _create_topic(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    if props.get("Subscription"):
        raise ResourceError("SNS subscriptions are not emulated yet")
    attributes = {
        key: _attribute_text(props[key])
        for key in ("DisplayName", "FifoTopic", "ContentBasedDeduplication")
        if key in props
    }
    p.client("sns").create_topic(Name=name, Attributes=attributes)
    return {}


def _create_parameter(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    args: dict[str, Any] = {"Name": name, "Value": str(props["Value"]), "Type": props.get("Type", "String")}
    if props.get("Description"):
        args["Description"] = props["Description"]
    p.client("ssm").put_parameter(**args)
    return {}


def _create_configuration_set(p: Provisioner, name: str, _props: Mapping[str, Any]) -> dict[str, str]:
    p.client("sesv2").create_configuration_set(ConfigurationSetName=name)
    return {}


def _create_email_identity(p: Provisioner, name: str, _props: Mapping[str, Any]) -> dict[str, str]:
    p.client("sesv2").create_email_identity(EmailIdentity=name)
    return {}


_USER_POOL_PROPERTIES = (
    "AccountRecoverySetting",
    "AdminCreateUserConfig",
    "AliasAttributes",
    "AutoVerifiedAttributes",
    "DeletionProtection",
    "MfaConfiguration",
    "Policies",
    "Schema",
    "UserAttributeUpdateSettings",
    "UsernameAttributes",
    "UsernameConfiguration",
)
"""Properties of AWS::Cognito::UserPool that CreateUserPool takes as they are (EnabledMfas, for
one, is CloudFormation's own: no local hosted UI asks for MFA)."""


def _create_user_pool(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    """The staff user pool in moto, so that staff_sync pushes users and groups to a real API; the
    local JWT issuer still signs the tokens (auth.py), reading the directory."""
    args: dict[str, Any] = {key: props[key] for key in _USER_POOL_PROPERTIES if key in props}
    pool = p.client("cognito-idp").create_user_pool(PoolName=name, **args)["UserPool"]
    pool_id = str(pool["Id"])
    provider = f"cognito-idp.{p.region}.amazonaws.com/{pool_id}"
    return {
        "Ref": pool_id,
        "UserPoolId": pool_id,
        "Arn": str(pool["Arn"]),
        "ProviderName": provider,
        "ProviderURL": f"https://{provider}",
    }


_CLIENT_PROPERTIES = (
    "AccessTokenValidity",
    "AllowedOAuthFlows",
    "AllowedOAuthFlowsUserPoolClient",
    "AllowedOAuthScopes",
    "CallbackURLs",
    "ExplicitAuthFlows",
    "GenerateSecret",
    "IdTokenValidity",
    "LogoutURLs",
    "PreventUserExistenceErrors",
    "RefreshTokenValidity",
    "SupportedIdentityProviders",
    "TokenValidityUnits",
)


def _create_user_pool_client(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    args: dict[str, Any] = {key: props[key] for key in _CLIENT_PROPERTIES if key in props}
    client = p.client("cognito-idp").create_user_pool_client(
        UserPoolId=props["UserPoolId"], ClientName=props.get("ClientName") or name, **args
    )["UserPoolClient"]
    return {"Ref": str(client["ClientId"]), "ClientId": str(client["ClientId"])}


def _create_user_pool_group(p: Provisioner, name: str, props: Mapping[str, Any]) -> dict[str, str]:
    args: dict[str, Any] = {key: props[key] for key in ("Description", "Precedence", "RoleArn") if key in props}
    p.client("cognito-idp").create_group(GroupName=name, UserPoolId=props["UserPoolId"], **args)
    return {}


_LAMBDA_ARN = "arn:{partition}:lambda:{region}:{account}:function:{name}"

TYPES: dict[str, ResourceType] = {
    # ---------------------------------------------------------------- created in moto
    "AWS::DynamoDB::Table": ResourceType(
        "create",
        "table with its keys, indexes, stream and TTL setting",
        name_property="TableName",
        arn="arn:{partition}:dynamodb:{region}:{account}:table/{name}",
        attributes={"Arn": "{arn}", "StreamArn": LIVE},
        create=_create_table,
    ),
    "AWS::SQS::Queue": ResourceType(
        "create",
        "queue with its attributes (visibility timeout, redrive to its DLQ, FIFO)",
        name_property="QueueName",
        ref="https://sqs.{region}.{url_suffix}/{account}/{name}",
        arn="arn:{partition}:sqs:{region}:{account}:{name}",
        attributes={
            "Arn": "{arn}",
            "QueueName": "{name}",
            "QueueUrl": "https://sqs.{region}.{url_suffix}/{account}/{name}",
        },
        create=_create_queue,
    ),
    "AWS::S3::Bucket": ResourceType(
        "create",
        "bucket (its notifications to functions are emulated)",
        name_property="BucketName",
        arn="arn:{partition}:s3:::{name}",
        attributes={
            "Arn": "{arn}",
            "DomainName": "{name}.s3.{url_suffix}",
            "RegionalDomainName": "{name}.s3.{region}.{url_suffix}",
        },
        lowercase_name=True,
        create=_create_bucket,
    ),
    "AWS::SecretsManager::Secret": ResourceType(
        "create",
        "secret; GenerateSecretString is generated here, as moto does not",
        name_property="Name",
        ref=LIVE,
        arn=LIVE,
        attributes={"Id": LIVE},
        create=_create_secret,
    ),
    "AWS::Events::EventBus": ResourceType(
        "create",
        "event bus (rules with function targets are emulated)",
        name_property="Name",
        arn="arn:{partition}:events:{region}:{account}:event-bus/{name}",
        attributes={"Arn": "{arn}", "Name": "{name}"},
        create=_create_event_bus,
    ),
    "AWS::SNS::Topic": ResourceType(
        "create",
        "topic",
        name_property="TopicName",
        ref="{arn}",
        arn="arn:{partition}:sns:{region}:{account}:{name}",
        attributes={"TopicArn": "{arn}", "TopicName": "{name}"},
        create=_create_topic,
    ),
    "AWS::SSM::Parameter": ResourceType(
        "create",
        "parameter",
        name_property="Name",
        arn="arn:{partition}:ssm:{region}:{account}:parameter/{name}",
        create=_create_parameter,
    ),
    "AWS::SES::ConfigurationSet": ResourceType(
        "create",
        "configuration set (its event destinations are emulated)",
        name_property="Name",
        create=_create_configuration_set,
    ),
    "AWS::SES::EmailIdentity": ResourceType(
        "create",
        "verified sender identity",
        name_property="EmailIdentity",
        create=_create_email_identity,
    ),
    "AWS::Cognito::UserPool": ResourceType(
        "create",
        "the staff user pool, for staff_sync's users and groups; the runtime's JWT issuer signs the "
        "tokens (POST /_local/login reads the staff directory)",
        name_property="UserPoolName",
        ref=LIVE,
        arn=LIVE,
        attributes={"Arn": LIVE, "ProviderName": LIVE, "ProviderURL": LIVE, "UserPoolId": LIVE},
        create=_create_user_pool,
    ),
    "AWS::Cognito::UserPoolClient": ResourceType(
        "create",
        "the app client; its id is the audience of the local tokens",
        name_property="ClientName",
        ref=LIVE,
        attributes={"ClientId": LIVE},
        create=_create_user_pool_client,
    ),
    "AWS::Cognito::UserPoolGroup": ResourceType(
        "create",
        "a group of the user pool (staff_sync adds and removes members)",
        name_property="GroupName",
        create=_create_user_pool_group,
    ),
    # ---------------------------------------------------------------- done by the runtime
    "AWS::Serverless::Function": ResourceType(
        "emulate",
        "runs in its own worker processes, invoked by the gateway, clock and pollers",
        name_property="FunctionName",
        arn=_LAMBDA_ARN,
        attributes={"Arn": "{arn}"},
    ),
    "AWS::Serverless::HttpApi": ResourceType(
        "emulate",
        "the local gateway serves its routes and checks its JWT authorizers",
        ref="{id_hash}",
        attributes={"ApiEndpoint": "{api_endpoint}"},
    ),
    "AWS::Serverless::LayerVersion": ResourceType(
        "emulate",
        "the project's virtual environment provides the layer",
        name_property="LayerName",
        ref="arn:{partition}:lambda:{region}:{account}:layer:{name}:1",
    ),
    "AWS::Scheduler::Schedule": ResourceType(
        "emulate",
        "the local clock fires it at each occurrence (moto would store it and never fire it)",
        name_property="Name",
        arn="arn:{partition}:scheduler:{region}:{account}:schedule/default/{name}",
        attributes={"Arn": "{arn}"},
    ),
    "AWS::Scheduler::ScheduleGroup": ResourceType(
        "emulate",
        "schedule groups only name schedules locally",
        name_property="Name",
        arn="arn:{partition}:scheduler:{region}:{account}:schedule-group/{name}",
        attributes={"Arn": "{arn}"},
    ),
    "AWS::Cognito::UserPoolDomain": ResourceType(
        "emulate",
        "the hosted UI: /_local/oauth2/authorize (pick a staff member), /_local/oauth2/token, /_local/logout",
        name_property="Domain",
    ),
    "AWS::SES::ReceiptRuleSet": ResourceType(
        "emulate",
        "the active rule set: mail to the SMTP listener or POST /_local/inbound goes through its rules",
        name_property="RuleSetName",
    ),
    "AWS::SES::ReceiptRule": ResourceType(
        "emulate",
        "applied by the runtime to received mail (S3, Lambda, AddHeader and Stop actions)",
    ),
    "AWS::SES::ConfigurationSetEventDestination": ResourceType(
        "emulate",
        "its EventBridge destination gets SES's events (send, delivery, bounce, complaint) from the runtime",
    ),
    "AWS::Events::Rule": ResourceType(
        "emulate",
        "the runtime's router matches events (PutEvents, SES events) and invokes its function targets",
        name_property="Name",
        arn="arn:{partition}:events:{region}:{account}:rule/{name}",
        attributes={"Arn": "{arn}"},
    ),
    # ---------------------------------------------------------------- nothing to do locally
    "AWS::CloudWatch::Alarm": ResourceType(
        "ignore",
        "no CloudWatch locally",
        name_property="AlarmName",
        arn="arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
        attributes={"Arn": "{arn}"},
    ),
    "AWS::CloudWatch::Dashboard": ResourceType("ignore", "no CloudWatch locally", name_property="DashboardName"),
    "AWS::Logs::LogGroup": ResourceType(
        "ignore",
        "function logs go to the console and .local/logs",
        name_property="LogGroupName",
        arn="arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
        attributes={"Arn": "{arn}"},
    ),
    "AWS::IAM::Role": ResourceType(
        "ignore",
        "no IAM locally",
        name_property="RoleName",
        arn="arn:{partition}:iam::{account}:role/{name}",
        attributes={"Arn": "{arn}", "RoleId": "AROA{id_hash}"},
    ),
    "AWS::IAM::Policy": ResourceType("ignore", "no IAM locally", name_property="PolicyName"),
    "AWS::IAM::ManagedPolicy": ResourceType(
        "ignore",
        "no IAM locally",
        name_property="ManagedPolicyName",
        ref="{arn}",
        arn="arn:{partition}:iam::{account}:policy/{name}",
    ),
    "AWS::Lambda::Permission": ResourceType("ignore", "no IAM locally"),
    "AWS::SQS::QueuePolicy": ResourceType("ignore", "no IAM locally"),
    "AWS::S3::BucketPolicy": ResourceType("ignore", "no IAM locally"),
    "AWS::SNS::TopicPolicy": ResourceType("ignore", "no IAM locally"),
}

EVENT_TYPES: dict[str, str] = {
    "HttpApi": "the local gateway serves the route",
    "Schedule": "the local clock fires it",
    "ScheduleV2": "the local clock fires it",
    "SQS": "a poller feeds the queue's messages to the function",
    "DynamoDB": "a poller feeds the stream's records to the function",
    "S3": "moto queues the bucket's notifications, the runtime delivers them to the function",
    "EventBridgeRule": "the runtime's router invokes the function with each matching event",
}
"""Function event types the runtime delivers; any other stops the start."""
