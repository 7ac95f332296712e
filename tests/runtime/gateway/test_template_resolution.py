"""Reading a template as CloudFormation and SAM do: Globals, parameters, conditions, intrinsics, names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from closeloop_local.template import Resolver, TemplateError

STACK = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Origins:
    Type: CommaDelimitedList
    Default: "a.example, b.example"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
Mappings:
  Sizes:
    dev: {memory: "256"}
    prod: {memory: "1024"}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Layers: [arn:aws:lambda:eu-west-1:123456789012:layer:base:1]
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: from-globals
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub closeloop-${Stage}-work
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 3
  Uploads:
    Type: AWS::S3::Bucket
  Changes:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Pool:
    Type: AWS::Cognito::UserPool
  PoolClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.lambda_handler
      Timeout: 30
      MemorySize: !FindInMap [Sizes, !Ref Stage, memory]
      Layers: [arn:aws:lambda:eu-west-1:123456789012:layer:extra:2]
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_URL: !Ref Work
          QUEUE_NAME: !GetAtt Work.QueueName
          BUCKET: !Ref Uploads
          ISSUER: !Sub https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}
          AUDIENCE: !Ref PoolClient
          MODE: !If [IsDev, development, !Ref AWS::NoValue]
          PROD_QUEUE: !If [IsProd, !Ref ProdOnly, none]
          FIRST_ORIGIN: !Select [0, !Ref Origins]
          JOINED: !Join ["|", !Split [",", "x,y"]]
          LITERAL: !Sub ["${Name}-${!Kept}", {Name: !Ref AWS::StackName}]
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
"""


def created(resolver: Resolver) -> Resolver:
    """The resolver as after provisioning: moto makes the user pool and its client, whose ids
    are known only then."""
    resolver.live[("Pool", "Ref")] = "eu-west-1_AbCdEf123"
    resolver.live[("Pool", "Arn")] = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
    resolver.live[("PoolClient", "Ref")] = "pool0client0id"
    return resolver


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(STACK)
    return path


def test_globals_merge_into_each_function_as_sam_merges_them(template: Path) -> None:
    resolved = created(Resolver(template)).resolve()
    worker = resolved.functions["Worker"]

    assert worker.timeout == 30
    assert worker.memory_size == 256
    assert worker.environment["STAGE"] == "dev"
    assert worker.environment["SHARED"] == "from-function"
    assert resolved.resources["Worker"].properties["Layers"] == [
        "arn:aws:lambda:eu-west-1:123456789012:layer:base:1",
        "arn:aws:lambda:eu-west-1:123456789012:layer:extra:2",
    ]


def test_intrinsic_functions_resolve_to_the_local_stack_values(template: Path) -> None:
    environment = created(Resolver(template)).resolve().functions["Worker"].environment

    assert environment["QUEUE_URL"] == "https://sqs.eu-west-1.amazonaws.com/123456789012/closeloop-dev-work"
    assert environment["QUEUE_NAME"] == "closeloop-dev-work"
    assert environment["BUCKET"] == "closeloop-local-uploads"
    assert environment["ISSUER"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert environment["AUDIENCE"] == "pool0client0id"
    assert environment["MODE"] == "development"
    assert environment["PROD_QUEUE"] == "none"
    assert environment["FIRST_ORIGIN"] == "a.example"
    assert environment["JOINED"] == "x|y"
    assert environment["LITERAL"] == "closeloop-local-${Kept}"


def test_parameters_and_conditions_change_what_the_stack_holds(template: Path) -> None:
    resolved = created(Resolver(template, parameters={"Stage": "prod"})).resolve()

    environment = resolved.functions["Worker"].environment
    assert "MODE" not in environment
    assert environment["PROD_QUEUE"].endswith("/closeloop-local-ProdOnly")
    assert resolved.functions["Worker"].memory_size == 1024
    assert "ProdOnly" not in created(Resolver(template)).resolve().resources


def test_a_parameter_file_beside_the_template_gives_the_local_values(template: Path) -> None:
    (template.parent / "infra" / "local").mkdir(parents=True)
    (template.parent / "infra" / "local" / "parameters.json").write_text(json.dumps({"Stage": "prod"}))

    assert Resolver(template).parameters["Stage"] == "prod"


def test_a_parameter_outside_its_allowed_values_stops_the_start(template: Path) -> None:
    with pytest.raises(TemplateError, match="parameter Stage"):
        Resolver(template, parameters={"Stage": "staging"})


def test_queues_are_created_after_the_dead_letter_queue_they_name(template: Path) -> None:
    resolver = Resolver(template)

    order = resolver.creation_order()

    assert order.index("DeadLetters") < order.index("Work")
    assert resolver.physical_name("DeadLetters") == "closeloop-local-DeadLetters.fifo"
    assert resolver.properties("Work")["RedrivePolicy"]["deadLetterTargetArn"] == (
        "arn:aws:sqs:eu-west-1:123456789012:closeloop-local-DeadLetters.fifo"
    )


def test_a_user_pool_id_is_known_only_once_moto_made_it(template: Path) -> None:
    with pytest.raises(TemplateError, match="Pool: Ref is known only once"):
        Resolver(template).resolve()


def test_a_stream_arn_is_known_only_once_its_table_exists(template: Path) -> None:
    resolver = Resolver(template)

    with pytest.raises(TemplateError, match="Changes: StreamArn is known only once"):
        resolver.get_att("Changes", "StreamArn", "test")

    resolver.live[("Changes", "StreamArn")] = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/1"
    assert resolver.get_att("Changes", "StreamArn", "test").endswith("/stream/1")


def test_an_unknown_event_type_stops_the_start_naming_the_function(template: Path) -> None:
    template.write_text(STACK.replace("Type: SQS", "Type: Kinesis"))

    with pytest.raises(TemplateError, match="function Worker: event Jobs of type Kinesis"):
        Resolver(template)
