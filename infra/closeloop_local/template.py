"""Reads template.yaml as CloudFormation and SAM would: Globals, parameters, conditions, intrinsics.

The `Resolver` answers what `Ref` and `Fn::GetAtt` give for each resource from the one table of
resource types (resources.py). A few values exist only once moto made the resource (a stream
ARN, a secret's ARN): the runtime records them in `Resolver.live` before resolving the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from closeloop_local.resources import EVENT_TYPES, LIVE, TYPES, Provisioner, ResourceError, ResourceType

FUNCTION = "AWS::Serverless::Function"
HTTP_API = "AWS::Serverless::HttpApi"
IMPLICIT_HTTP_API = "ServerlessHttpApi"
PARAMETER_FILE = Path("infra/local/parameters.json")

_GLOBALS_TARGETS = {
    "Function": FUNCTION,
    "HttpApi": HTTP_API,
    "Api": "AWS::Serverless::Api",
    "LayerVersion": "AWS::Serverless::LayerVersion",
    "SimpleTable": "AWS::Serverless::SimpleTable",
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class TemplateError(Exception):
    """The template declares something the local runtime cannot understand or run."""


@dataclass(frozen=True)
class Pseudo:
    """The values of CloudFormation's pseudo parameters for the local stack."""

    region: str = "eu-west-1"
    account_id: str = "123456789012"
    stack_name: str = "closeloop-local"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_size: int
    events: dict[str, dict[str, Any]]
    reserved_concurrency: int | None
    name: str
    arn: str


@dataclass(frozen=True)
class ResolvedTemplate:
    path: Path
    parameters: dict[str, Any]
    resources: dict[str, Resource]
    functions: dict[str, FunctionSpec]
    globals_environment: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    physical_names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)


class _NoValue:
    """AWS::NoValue: the property or list item it stands in is removed."""


_NO_VALUE = _NoValue()


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags; dates stay strings, as CloudFormation reads them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _short_form)


def read_document(path: Path) -> dict[str, Any]:
    """The template as a plain dict, short-form tags turned into their long form."""
    try:
        document = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return document


def _is_intrinsic(node: Any) -> bool:
    if not isinstance(node, dict) or len(node) != 1:
        return False
    key = str(next(iter(node)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's rule: maps merge (the resource wins), lists add up, anything else the resource overrides."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _references(node: Any) -> Iterator[str]:
    """Names a node refers to through Ref, Fn::GetAtt and Fn::Sub."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                if isinstance(target, str):
                    yield target
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    for match in _SUB_VARIABLE.finditer(text):
                        yield match.group(1).split(".", 1)[0]
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


class Resolver:
    """Resolves a template for the local stack; `resolve()` gives the `ResolvedTemplate`."""

    def __init__(
        self,
        path: Path,
        *,
        parameters: Mapping[str, Any] | None = None,
        pseudo: Pseudo | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self.pseudo = pseudo or Pseudo()
        self.api_endpoint = ""
        self.live: dict[tuple[str, str], str] = {}
        document = read_document(self.path)
        self._mappings: dict[str, Any] = document.get("Mappings") or {}
        self._condition_nodes: dict[str, Any] = document.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()
        self._raw: dict[str, dict[str, Any]] = {}
        self._globals: Mapping[str, Any] = document.get("Globals") or {}
        self.parameters = self._read_parameters(document.get("Parameters") or {}, parameters or {})
        self._raw = self._apply_globals(document)
        self._check_types()

    # ------------------------------------------------------------------ reading
    def _read_parameters(self, declared: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
        supplied = {**self._parameter_file(), **overrides}
        unknown = sorted(set(supplied) - set(declared))
        if unknown:
            raise TemplateError(f"parameters not declared by the template: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in supplied:
                raw = supplied[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default: give it in {PARAMETER_FILE}")
            values[name] = self._parameter_value(name, spec, raw)
        return values

    def _parameter_file(self) -> dict[str, Any]:
        path = self.path.parent / PARAMETER_FILE
        if not path.exists():
            return {}
        try:
            loaded = json.loads(path.read_text())
        except ValueError as error:
            raise TemplateError(f"{path} is not valid JSON: {error}") from error
        if isinstance(loaded, list):  # the CloudFormation CLI's shape
            return {item["ParameterKey"]: item["ParameterValue"] for item in loaded}
        if not isinstance(loaded, dict):
            raise TemplateError(f"{path} must map parameter names to values")
        return loaded

    @staticmethod
    def _parameter_value(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
        kind = str(spec.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter::Value"):
            raise TemplateError(f"parameter {name}: SSM-backed parameters are not resolved locally")
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return [str(item).strip() for item in items]
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if kind == "Number":
            try:
                float(value)
            except ValueError:
                raise TemplateError(f"parameter {name}: {value!r} is not a number") from None
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(item) for item in allowed]:
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), value):
            raise TemplateError(f"parameter {name}: {value!r} does not match {pattern}")
        return value

    def _apply_globals(self, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        global_sections = self._globals
        by_type = {_GLOBALS_TARGETS[key]: value for key, value in global_sections.items() if key in _GLOBALS_TARGETS}
        unknown = sorted(set(global_sections) - set(_GLOBALS_TARGETS))
        if unknown:
            raise TemplateError(f"Globals sections not known to the local runtime: {', '.join(unknown)}")
        raw: dict[str, dict[str, Any]] = {}
        for logical_id, resource in document["Resources"].items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise TemplateError(f"resource {logical_id} has no Type")
            condition = resource.get("Condition")
            if condition is not None and not self.condition(condition):
                continue
            entry = dict(resource)
            entry["Properties"] = merge_globals(by_type.get(resource["Type"], {}), resource.get("Properties") or {})
            raw[logical_id] = entry
        self._add_implicit_resources(raw, by_type.get(HTTP_API, {}))
        return raw

    @staticmethod
    def _add_implicit_resources(raw: dict[str, dict[str, Any]], http_api_globals: Mapping[str, Any]) -> None:
        """What SAM adds by itself: the HTTP API of routes that name none, and function roles."""
        for logical_id, resource in list(raw.items()):
            if resource["Type"] != FUNCTION:
                continue
            properties = resource["Properties"]
            if "Role" not in properties and f"{logical_id}Role" not in raw:
                raw[f"{logical_id}Role"] = {"Type": "AWS::IAM::Role", "Properties": {}}
            for event in (properties.get("Events") or {}).values():
                if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                    continue
                event_properties = event.setdefault("Properties", {})
                if "ApiId" not in event_properties:
                    event_properties["ApiId"] = {"Ref": IMPLICIT_HTTP_API}
                    raw.setdefault(IMPLICIT_HTTP_API, {"Type": HTTP_API, "Properties": dict(http_api_globals)})

    def _check_types(self) -> None:
        for logical_id, resource in self._raw.items():
            kind = resource["Type"]
            if kind not in TYPES:
                raise TemplateError(
                    f"resource {logical_id}: type {kind} is not known to the local runtime "
                    "(closeloop_local/resources.py lists the types it creates, emulates or ignores)"
                )
            if kind == FUNCTION:
                for name, event in (resource["Properties"].get("Events") or {}).items():
                    event_type = event.get("Type") if isinstance(event, dict) else None
                    if event_type not in EVENT_TYPES:
                        raise TemplateError(
                            f"function {logical_id}: event {name} of type {event_type} is not delivered "
                            "by the local runtime"
                        )

    # ------------------------------------------------------------------ names and attributes
    def type_of(self, logical_id: str) -> ResourceType:
        return TYPES[self._raw[logical_id]["Type"]]

    def physical_name(self, logical_id: str) -> str:
        """The resource's explicit name property, else "<StackName>-<LogicalId>"."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id not in self._raw:
            raise TemplateError(f"no resource {logical_id} in the template")
        if logical_id in self._naming:
            raise TemplateError(f"resource {logical_id}: its name depends on itself")
        self._naming.add(logical_id)
        try:
            kind = self.type_of(logical_id)
            properties = self._raw[logical_id]["Properties"]
            if kind.name_property and kind.name_property in properties:
                name = self._text(self.value(properties[kind.name_property], logical_id), logical_id)
            else:
                name = f"{self.pseudo.stack_name}-{logical_id}"
                if kind.lowercase_name:
                    name = name.lower()
                if self._raw[logical_id]["Type"] == "AWS::SQS::Queue" and _flag(
                    self.value(properties.get("FifoQueue", False), logical_id)
                ):
                    name += ".fifo"
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def _field(self, logical_id: str, key: str) -> str:
        if key == "name":
            return self.physical_name(logical_id)
        if key == "arn":
            return self.arn(logical_id)
        digest = hashlib.sha256(f"{self.pseudo.stack_name}/{logical_id}".encode()).hexdigest()[:10]
        fields = {
            "region": self.pseudo.region,
            "account": self.pseudo.account_id,
            "partition": self.pseudo.partition,
            "url_suffix": self.pseudo.url_suffix,
            "id": logical_id,
            "id_lower": logical_id.lower(),
            "id_hash": digest,
        }
        if key == "api_endpoint":
            return self.api_endpoint or f"https://{digest}.execute-api.{self.pseudo.region}.{self.pseudo.url_suffix}"
        return fields[key]

    def _format(self, logical_id: str, pattern: str, attribute: str) -> str:
        if pattern == LIVE:
            value = self.live.get((logical_id, attribute))
            if value is None:
                raise TemplateError(
                    f"resource {logical_id}: {attribute} is known only once the resource exists "
                    "(and only for the resources that have it, such as a table with a stream)"
                )
            return value
        return re.sub(r"\{(\w+)\}", lambda match: self._field(logical_id, match.group(1)), pattern)

    def ref(self, logical_id: str) -> str:
        return self._format(logical_id, self.type_of(logical_id).ref, "Ref")

    def arn(self, logical_id: str) -> str:
        pattern = self.type_of(logical_id).arn
        if pattern is None:
            raise TemplateError(f"resource {logical_id}: the local runtime gives it no ARN")
        return self._format(logical_id, pattern, "Arn")

    def get_att(self, logical_id: str, attribute: str, where: str) -> str:
        if logical_id not in self._raw:
            raise TemplateError(f"{where}: Fn::GetAtt of unknown resource {logical_id}")
        pattern = self.type_of(logical_id).attributes.get(attribute)
        if pattern is None:
            raise TemplateError(
                f"{where}: attribute {attribute} of {logical_id} ({self._raw[logical_id]['Type']}) "
                "is not known to the local runtime"
            )
        return self._format(logical_id, pattern, attribute)

    # ------------------------------------------------------------------ conditions and intrinsics
    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        if name not in self._condition_nodes:
            raise TemplateError(f"unknown condition {name}")
        self._conditions[name] = False  # a condition that depends on itself ends false, not in a loop
        self._conditions[name] = self._truth(self._condition_nodes[name], f"condition {name}")
        return self._conditions[name]

    def _truth(self, node: Any, where: str) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            key, argument = next(iter(node.items()))
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self.value(item, where) for item in argument)
                return bool(self._comparable(left) == self._comparable(right))
            if key == "Fn::Not":
                return not self._truth(argument[0], where)
            if key == "Fn::And":
                return all(self._truth(item, where) for item in argument)
            if key == "Fn::Or":
                return any(self._truth(item, where) for item in argument)
        return _flag(self.value(node, where))

    @staticmethod
    def _comparable(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int | float) else value

    def _text(self, value: Any, where: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise TemplateError(f"{where}: expected a text value, got {value!r}")

    def value(self, node: Any, where: str) -> Any:
        """A node with every intrinsic function replaced by its value."""
        if isinstance(node, dict):
            if len(node) == 1:
                key, argument = next(iter(node.items()))
                if key == "Ref":
                    return self._ref(argument, where)
                if isinstance(key, str) and key.startswith("Fn::"):
                    return self._function(key, argument, where)
            resolved = {key: self.value(item, where) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(node, list):
            items = [self.value(item, where) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        return node

    def _ref(self, name: Any, where: str) -> Any:
        name = self.value(name, where)
        pseudo = {
            "AWS::Region": self.pseudo.region,
            "AWS::AccountId": self.pseudo.account_id,
            "AWS::StackName": self.pseudo.stack_name,
            "AWS::StackId": (
                f"arn:{self.pseudo.partition}:cloudformation:{self.pseudo.region}:{self.pseudo.account_id}:"
                f"stack/{self.pseudo.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": self.pseudo.partition,
            "AWS::URLSuffix": self.pseudo.url_suffix,
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name == "AWS::NotificationARNs":
            return []
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self._raw:
            return self.ref(name)
        raise TemplateError(f"{where}: Ref to {name}, which is neither a parameter nor a resource")

    def _function(self, name: str, argument: Any, where: str) -> Any:
        if name == "Fn::If":
            condition, if_true, if_false = argument
            return self.value(if_true if self.condition(condition) else if_false, where)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._truth({name: argument}, where)
        if name == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else list(argument)
            logical_id, attribute = (self._text(self.value(part, where), where) for part in parts)
            return self.get_att(logical_id, attribute, where)
        if name == "Fn::Sub":
            return self._sub(argument, where)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(self._text(item, where) for item in self.value(items, where))
        if name == "Fn::Select":
            index, items = argument
            values = self.value(items, where)
            position = int(self._text(self.value(index, where), where))
            if not isinstance(values, list) or not 0 <= position < len(values):
                raise TemplateError(f"{where}: Fn::Select index {position} is out of range")
            return values[position]
        if name == "Fn::Split":
            delimiter, text = argument
            return self._text(self.value(text, where), where).split(str(delimiter))
        if name == "Fn::FindInMap":
            return self._find_in_map(argument, where)
        if name == "Fn::Base64":
            return base64.b64encode(self._text(self.value(argument, where), where).encode()).decode()
        if name == "Fn::GetAZs":
            return [f"{self.pseudo.region}{zone}" for zone in "abc"]
        if name == "Fn::ToJsonString":
            return json.dumps(self.value(argument, where), separators=(",", ":"))
        if name == "Fn::Length":
            return len(self.value(argument, where))
        raise TemplateError(f"{where}: {name} is not supported by the local runtime")

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.value(argument[1], where)
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return self._text(variables[expression], where)
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.get_att(logical_id, attribute, where)
            return self._text(self._ref(expression, where), where)

        return _SUB_VARIABLE.sub(replace, str(text))

    def _find_in_map(self, argument: list[Any], where: str) -> Any:
        keys = [self._text(self.value(item, where), where) for item in argument[:3]]
        default = argument[3].get("DefaultValue") if len(argument) > 3 else None
        found: Any = self._mappings
        for key in keys:
            if not isinstance(found, dict) or key not in found:
                if default is not None:
                    return self.value(default, where)
                raise TemplateError(f"{where}: Fn::FindInMap finds no {'/'.join(keys)}")
            found = found[key]
        return self.value(found, where)

    # ------------------------------------------------------------------ the resolved template
    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved = self.value(self._raw[logical_id]["Properties"], f"resource {logical_id}")
        return resolved if isinstance(resolved, dict) else {}

    def creation_order(self) -> list[str]:
        """The resources to create in moto, each after the ones its properties refer to."""
        wanted = [logical_id for logical_id in self._raw if self.type_of(logical_id).action == "create"]
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            if logical_id in visiting:
                raise TemplateError(f"resource {logical_id}: circular reference")
            visiting.add(logical_id)
            resource = self._raw[logical_id]
            depends = resource.get("DependsOn") or []
            for target in [*_references(resource["Properties"]), *([depends] if isinstance(depends, str) else depends)]:
                if target in wanted:
                    visit(target)
            visiting.discard(logical_id)
            ordered.append(logical_id)

        for logical_id in wanted:
            visit(logical_id)
        return ordered

    def globals_environment(self) -> dict[str, str]:
        """Globals.Function.Environment.Variables, resolved: what every function of the stack gets."""
        variables = ((self._globals.get("Function") or {}).get("Environment") or {}).get("Variables") or {}
        resolved = self.value(variables, "Globals")
        return {key: self._text(value, f"Globals variable {key}") for key, value in resolved.items()}

    def _function_spec(self, resource: Resource) -> FunctionSpec:
        logical_id, properties = resource.logical_id, resource.properties
        where = f"function {logical_id}"
        if properties.get("PackageType") == "Image" or "InlineCode" in properties:
            raise TemplateError(f"{where}: only functions with a local CodeUri folder run locally")
        runtime = str(properties.get("Runtime", ""))
        if not runtime.startswith("python"):
            raise TemplateError(f"{where}: runtime {runtime or '(none)'} cannot run here, only Python does")
        code = properties.get("CodeUri")
        if not isinstance(code, str):
            raise TemplateError(f"{where}: CodeUri must be a local folder")
        code_uri = (self.path.parent / code).resolve()
        if not code_uri.is_dir():
            raise TemplateError(f"{where}: CodeUri {code} is not a folder")
        handler = properties.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{where}: Handler must read module.function")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        reserved = properties.get("ReservedConcurrentExecutions")
        return FunctionSpec(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=handler,
            environment={key: self._text(value, f"{where} variable {key}") for key, value in variables.items()},
            timeout=int(properties.get("Timeout", 3)),
            memory_size=int(properties.get("MemorySize", 128)),
            events={
                name: {"Type": event["Type"], "Properties": event.get("Properties") or {}}
                for name, event in (properties.get("Events") or {}).items()
            },
            reserved_concurrency=int(reserved) if reserved is not None else None,
            name=self.physical_name(logical_id),
            arn=self.arn(logical_id),
        )

    def resolve(self) -> ResolvedTemplate:
        resources = {
            logical_id: Resource(
                logical_id=logical_id,
                type=raw["Type"],
                properties=self.properties(logical_id),
                metadata=raw.get("Metadata") or {},
            )
            for logical_id, raw in self._raw.items()
        }
        return ResolvedTemplate(
            path=self.path,
            parameters=dict(self.parameters),
            resources=resources,
            functions={
                logical_id: self._function_spec(resource)
                for logical_id, resource in resources.items()
                if resource.type == FUNCTION
            },
            globals_environment=self.globals_environment(),
            refs={logical_id: self.ref(logical_id) for logical_id in resources},
            physical_names={logical_id: self.physical_name(logical_id) for logical_id in resources},
            arns={
                logical_id: self.arn(logical_id) for logical_id in resources if self.type_of(logical_id).arn is not None
            },
        )


def provision(resolver: Resolver, provisioner: Provisioner) -> ResolvedTemplate:
    """Create the resources the table marks "create", each after those it refers to, and resolve."""
    for logical_id in resolver.creation_order():
        kind = resolver.type_of(logical_id)
        if kind.create is None:
            raise TemplateError(f"resource {logical_id}: its type is marked create but has no creator")
        try:
            live = kind.create(provisioner, resolver.physical_name(logical_id), resolver.properties(logical_id))
        except (ResourceError, ClientError, BotoCoreError, KeyError) as error:
            raise TemplateError(f"resource {logical_id}: cannot create it locally: {error}") from error
        for attribute, value in live.items():
            resolver.live[(logical_id, attribute)] = value
    return resolver.resolve()
