"""template.yaml is the single description of what runs: hold the code and the docs to it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pynamodb.models import Model
from samtranslator.translator.transform import transform

from closeloop.api.access import PUBLIC, ROUTE_ACCESS
from closeloop.api.catalogue import openapi_document
from closeloop.models import registered_models
from tests.support import ROOT, http_routes, template


class _NoManagedPolicies:
    """The translator asks IAM for AWS managed policy ARNs; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


def _openapi_routes() -> set[str]:
    document = openapi_document()
    routes = set()
    for path, operations in document["paths"].items():
        for method in operations:
            routes.add(f"{method.upper()} {path}")
    return routes


def test_the_openapi_document_describes_exactly_the_routes_of_the_template() -> None:
    assert _openapi_routes() == set(http_routes())


def test_every_route_has_an_access_rule_and_public_ones_have_no_authorizer() -> None:
    routes = http_routes()
    assert set(ROUTE_ACCESS) == set(routes)
    for key, route in routes.items():
        assert route["public"] == (ROUTE_ACCESS[key] == PUBLIC), key


def test_staff_routes_declare_the_bearer_token_in_the_openapi_document() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.")
    assert "staffJwt" in document["components"]["securitySchemes"]
    for key, route in http_routes().items():
        method, path = key.split(" ", 1)
        operation = document["paths"][path][method.lower()]
        declared = bool(operation.get("security"))
        assert declared == (not route["public"]), key


def _packaged(source: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` hands it to the translator: local code folders become S3 URIs."""
    for resource in source["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://artifacts/{props[key]}"
    return source


def test_the_sam_translator_transforms_the_template_offline_and_every_handler_exists() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    output = transform(_packaged(template()), {}, _NoManagedPolicies())

    functions = {k: v for k, v in output["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {k for k, v in template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    for logical_id, function in functions.items():
        props = function["Properties"]
        code = ROOT / props["Code"]["S3Key"]
        module, _, name = props["Handler"].rpartition(".")
        handler_file = code / f"{module.replace('.', '/')}.py"
        assert handler_file.is_file(), handler_file
        assert f"def {name}(" in handler_file.read_text(), f"{handler_file} has no {name}"
        makefile = (code / "Makefile").read_text()
        assert re.search(rf"^build-(%|{logical_id}):", makefile, re.MULTILINE), f"{code}/Makefile builds nothing"
        assert props["Runtime"] == "python3.12"
        assert props["Layers"], f"{logical_id} has no layer"
    layers = [v for v in output["Resources"].values() if v["Type"] == "AWS::Lambda::LayerVersion"]
    assert [(ROOT / layer["Properties"]["Content"]["S3Key"] / "closeloop").is_dir() for layer in layers] == [True]


def test_every_function_and_layer_is_built_with_the_makefile_method() -> None:
    for logical_id, resource in template()["Resources"].items():
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}:
            assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", logical_id


def _tables() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}


def test_every_table_is_on_demand_with_point_in_time_recovery_and_encryption() -> None:
    for logical_id, table in _tables().items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, logical_id
        assert props["SSESpecification"]["SSEEnabled"] is True, logical_id


def _env_to_table() -> dict[str, str]:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value["Ref"] for name, value in variables.items() if name.endswith("_TABLE")}


def test_every_table_reaches_the_functions_through_an_environment_variable() -> None:
    assert set(_env_to_table().values()) == set(_tables())


def _key_schema(keys: list[dict[str, str]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in keys}


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m.__name__)
def test_each_model_matches_its_table_in_the_template(model: type[Model]) -> None:
    setting = vars(model.Meta)["table_name"].setting
    logical_id = _env_to_table()[setting.upper()]
    table = _tables()[logical_id]["Properties"]
    schema = model._get_schema()

    assert _key_schema(table["KeySchema"]) == _key_schema(schema["key_schema"])
    declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for attribute in schema["attribute_definitions"]:
        assert declared.get(attribute["AttributeName"]) == attribute["AttributeType"], attribute
    template_indexes = {i["IndexName"]: _key_schema(i["KeySchema"]) for i in table.get("GlobalSecondaryIndexes", [])}
    # every index of the table is declared by a model of it (two models may share a table)
    sharing = [other for other in registered_models() if vars(other.Meta)["table_name"].setting == setting]
    model_indexes = {
        i["index_name"]: _key_schema(i["key_schema"])
        for other in sharing
        for i in other._get_schema()["global_secondary_indexes"]
    }
    assert model_indexes == template_indexes
    ttl = [name for name, attr in model.get_attributes().items() if type(attr).__name__ == "TTLAttribute"]
    if ttl:
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl[0], "Enabled": True}


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is installed by `make install`"
    return found


def test_the_layer_requirements_are_the_lock_files_runtime_dependencies() -> None:
    exported = subprocess.run(
        [
            _uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements-txt",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    committed = (ROOT / "layers" / "closeloop" / "requirements.txt").read_text()
    assert committed.split() == exported.split(), "run `make requirements`"


def test_every_table_of_the_settings_is_named_in_globals_and_health_may_describe_it() -> None:
    from dataclasses import fields

    from closeloop.settings import Settings

    settings_tables = {item.name.upper() for item in fields(Settings) if item.name.endswith("_table")}
    assert settings_tables == set(_env_to_table())
    statements = template()["Resources"]["PlatformFunction"]["Properties"]["Policies"][0]["Statement"]
    described = {arn["Fn::GetAtt"][0] for arn in statements[0]["Resource"]}
    assert described == set(_tables())


def test_the_default_send_rate_is_shared_by_the_sender_instances_without_loss() -> None:
    parameters = template()["Parameters"]
    rate, instances = parameters["MaxSendRate"]["Default"], parameters["SenderMaximumConcurrency"]["Default"]
    assert rate % instances == 0, "each sender instance takes its share rounded down to whole sends a second"
