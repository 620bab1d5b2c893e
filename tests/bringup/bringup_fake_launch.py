"""A minimal stand-in for the ROS 2 `launch` / `launch_ros` Python API, to evaluate our launch files
where `ros2 launch` does not exist (PyPI has no launch/launch_ros for ROS 2).

It implements only the classes our launch files use, with the real signatures, and evaluates them
the way launch does: launch arguments (defaults, choices, required), substitutions, included launch
files with their launch_arguments, namespaces, conditions, and launch_ros' parameter handling
(YAML files with `/**` wildcards, dict values from substitutions parsed as YAML). Anything else a
launch file imports fails loudly (AttributeError), so the tests notice a launch file outgrowing it.

    with installed_fake_launch(share_dirs):
        nodes = evaluate(Path("launch/demo.launch.py"), {"namespace": "robot1"})
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class LaunchError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------
# The fake API (constructors only record; `evaluate` interprets)
# ------------------------------------------------------------------------------------------------
class Substitution:
    pass


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name, default=None):
        self.variable_name, self.default = variable_name, default


class TextSubstitution(Substitution):
    def __init__(self, *, text):
        self.text = text


class PathJoinSubstitution(Substitution):
    def __init__(self, substitutions):
        self.substitutions = list(substitutions)


class EnvironmentVariable(Substitution):
    def __init__(self, name, *, default_value=""):
        self.name, self.default_value = name, default_value


class FindPackageShare(Substitution):
    def __init__(self, package):
        self.package = package


class IfCondition:
    def __init__(self, predicate_expression):
        self.predicate = predicate_expression
        self.negate = False


class UnlessCondition(IfCondition):
    def __init__(self, predicate_expression):
        super().__init__(predicate_expression)
        self.negate = True


class Action:
    def __init__(self, *, condition=None):
        self.condition = condition


class LaunchDescription:
    def __init__(self, initial_entities=None):
        self.entities = list(initial_entities or [])

    def add_action(self, action):
        self.entities.append(action)


class DeclareLaunchArgument(Action):
    def __init__(self, name, *, default_value=None, description=None, choices=None, **kwargs):
        super().__init__(**kwargs)
        self.name, self.default_value, self.description, self.choices = name, default_value, description, choices


class PythonLaunchDescriptionSource:
    def __init__(self, launch_file_path):
        self.launch_file_path = launch_file_path


class IncludeLaunchDescription(Action):
    def __init__(self, launch_description_source, *, launch_arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.source = launch_description_source
        self.launch_arguments = list(launch_arguments or [])


class GroupAction(Action):
    def __init__(self, actions, *, scoped=True, forwarding=True, launch_configurations=None, **kwargs):
        super().__init__(**kwargs)
        self.actions, self.scoped, self.forwarding = list(actions), scoped, forwarding
        self.launch_configurations = dict(launch_configurations or {})


class LogInfo(Action):
    def __init__(self, *, msg, **kwargs):
        super().__init__(**kwargs)
        self.msg = msg


class OpaqueFunction(Action):
    def __init__(self, *, function, args=None, kwargs=None, **kw):
        super().__init__(**kw)
        self.function, self.args, self.kwargs = function, list(args or []), dict(kwargs or {})


class _FunctionContext:
    """What an OpaqueFunction's function gets: like launch.LaunchContext, the configurations in scope."""

    def __init__(self, configs: dict[str, str]):
        self.launch_configurations = dict(configs)


class SetEnvironmentVariable(Action):
    def __init__(self, name, value, **kwargs):
        super().__init__(**kwargs)
        self.name, self.value = name, value


class PushRosNamespace(Action):
    def __init__(self, namespace, **kwargs):
        super().__init__(**kwargs)
        self.namespace = namespace


class Node(Action):
    def __init__(self, *, executable, package=None, name=None, namespace=None, exec_name=None, parameters=None,
                 remappings=None, ros_arguments=None, arguments=None, output="log", emulate_tty=False,
                 respawn=False, respawn_delay=None, **kwargs):
        super().__init__(**kwargs)
        self.package, self.executable, self.name, self.namespace = package, executable, name, namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.arguments = list(arguments or [])
        self.ros_arguments = list(ros_arguments or [])
        self.output = output


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__path__ = []  # a package, so submodule imports resolve through sys.modules

    def missing(attr):
        raise AttributeError(f"the fake {name} has no {attr!r}: extend tests/bringup/bringup_fake_launch.py")

    mod.__getattr__ = missing
    return mod


def fake_modules() -> dict[str, types.ModuleType]:
    return {
        "launch": _module("launch", LaunchDescription=LaunchDescription),
        "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                  IncludeLaunchDescription=IncludeLaunchDescription, GroupAction=GroupAction,
                                  LogInfo=LogInfo, SetEnvironmentVariable=SetEnvironmentVariable, OpaqueFunction=OpaqueFunction),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=LaunchConfiguration,
                                        TextSubstitution=TextSubstitution, PathJoinSubstitution=PathJoinSubstitution,
                                        EnvironmentVariable=EnvironmentVariable),
        "launch.conditions": _module("launch.conditions", IfCondition=IfCondition, UnlessCondition=UnlessCondition),
        "launch.launch_description_sources": _module("launch.launch_description_sources",
                                                     PythonLaunchDescriptionSource=PythonLaunchDescriptionSource),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=Node, PushRosNamespace=PushRosNamespace),
        "launch_ros.substitutions": _module("launch_ros.substitutions", FindPackageShare=FindPackageShare),
    }


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
@dataclass
class NodeDesc:
    package: str
    executable: str
    name: str | None
    namespace: str  # fully resolved, "" for the root namespace
    param_files: list[Path]
    param_overrides: dict[str, Any]  # from dicts in `parameters`, after YAML parsing like launch_ros
    remappings: list[tuple[str, str]]
    arguments: list[str]
    launch_file: Path
    env: dict[str, str] = field(default_factory=dict)  # what SetEnvironmentVariable set for this node

    def parameters(self) -> dict[str, Any]:
        """What the node starts with: matching entries of every YAML file, then the dict overrides."""
        merged: dict[str, Any] = {}
        for path in self.param_files:
            merged.update(params_for_node(path, self.fqn()))
        merged.update(self.param_overrides)
        return merged

    def yaml_parameters(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for path in self.param_files:
            merged.update(params_for_node(path, self.fqn()))
        return merged

    def fqn(self) -> str:
        ns = "/" + self.namespace.strip("/") if self.namespace.strip("/") else ""
        return f"{ns}/{self.name or self.executable}"


@dataclass
class Declared:
    name: str
    default: Any
    description: str | None
    choices: list[str] | None
    launch_file: Path


@dataclass
class Context:
    configs: dict[str, str]
    share: dict[str, Path]
    namespace: str = ""
    env: dict[str, str] = field(default_factory=dict)


def _flatten_yaml_keys(params: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten_yaml_keys(value, name + "."))
        else:
            out[name] = value
    return out


def _node_key_regex(key: str) -> str:
    """rcl's node-name patterns in params files: `/**` any number of namespace levels (also none),
    `*` exactly one token, a leading `/` optional."""
    parts = [p for p in key.strip("/").split("/") if p]
    regex = ""
    for part in parts:
        if part == "**":
            regex += "(?:/[^/]+)*"
        elif part == "*":
            regex += "/[^/]+"
        else:
            regex += "/" + re.escape(part)
    return regex


def params_for_node(path: Path, fqn: str) -> dict[str, Any]:
    """Parameters a ROS params file gives the node `fqn` (later matches win)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, Any] = {}
    for key, body in data.items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise LaunchError(f"{path}: top-level key {key!r} has no ros__parameters")
        if re.fullmatch(_node_key_regex(str(key)), fqn):
            out.update(_flatten_yaml_keys(body["ros__parameters"] or {}))
    return out


def _text(value, ctx: Context) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "".join(_text(v, ctx) for v in value)
    if isinstance(value, LaunchConfiguration):
        if value.variable_name in ctx.configs:
            return ctx.configs[value.variable_name]
        if value.default is not None:
            return _text(value.default, ctx)
        raise LaunchError(f"launch configuration {value.variable_name!r} is not set")
    if isinstance(value, TextSubstitution):
        return value.text
    if isinstance(value, PathJoinSubstitution):
        return os.path.join(*[_text(v, ctx) for v in value.substitutions])
    if isinstance(value, EnvironmentVariable):
        return ctx.env.get(value.name, os.environ.get(value.name, _text(value.default_value, ctx)))
    if isinstance(value, FindPackageShare):
        if value.package not in ctx.share:
            raise LaunchError(f"package {value.package!r} is not installed (no share dir)")
        return str(ctx.share[value.package])
    raise LaunchError(f"unsupported substitution {type(value).__name__}")


def _condition_holds(cond, ctx: Context) -> bool:
    if cond is None:
        return True
    text = _text(cond.predicate, ctx).strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise LaunchError(f"condition {text!r} is not a boolean")
    value = text in ("true", "1")
    return value != cond.negate


def _param_value(text: str) -> Any:
    # launch_ros parses substituted parameter values as YAML ("5.0" -> 5.0, "true" -> True).
    value = yaml.safe_load(text) if text != "" else ""
    return "" if value is None else value


def _join_ns(base: str, ns: str) -> str:
    if ns.startswith("/"):
        return ns.strip("/")
    return "/".join(p for p in (base.strip("/"), ns.strip("/")) if p)


def load_launch_file(path: Path) -> LaunchDescription:
    spec = importlib.util.spec_from_file_location(f"launch_file_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "generate_launch_description"):
        raise LaunchError(f"{path} has no generate_launch_description()")
    return module.generate_launch_description()


def evaluate(path: Path, args: dict[str, str], share: dict[str, Path]) -> tuple[list[NodeDesc], list[Declared]]:
    """Nodes a launch file would start with these launch arguments, and every argument declared
    (also in included files)."""
    nodes: list[NodeDesc] = []
    declared: list[Declared] = []
    _evaluate_file(Path(path), Context(configs=dict(args), share=share), nodes, declared)
    return nodes, declared


def _evaluate_file(path: Path, ctx: Context, nodes: list, declared: list) -> None:
    if not path.is_file():
        raise LaunchError(f"launch file {path} does not exist")
    ld = load_launch_file(path)
    _evaluate_entities(ld.entities, ctx, nodes, declared, path)


def _evaluate_entities(entities, ctx: Context, nodes: list, declared: list, path: Path) -> None:
    for entity in entities:
        if not _condition_holds(getattr(entity, "condition", None), ctx):
            continue
        if isinstance(entity, DeclareLaunchArgument):
            declared.append(Declared(entity.name, entity.default_value, entity.description, entity.choices, path))
            if entity.name not in ctx.configs:
                if entity.default_value is None:
                    raise LaunchError(f"{path.name}: required launch argument {entity.name!r} not given")
                ctx.configs[entity.name] = _text(entity.default_value, ctx)
            if entity.choices and ctx.configs[entity.name] not in entity.choices:
                raise LaunchError(f"{path.name}: {entity.name}={ctx.configs[entity.name]!r} not in {entity.choices}")
        elif isinstance(entity, IncludeLaunchDescription):
            # Real launch does NOT scope an include: its launch_arguments and every configuration its
            # DeclareLaunchArguments set stay in the context for whatever comes after it (only a
            # scoped GroupAction around the include keeps them in).
            for key, value in entity.launch_arguments:
                ctx.configs[_text(key, ctx)] = _text(value, ctx)
            _evaluate_file(Path(_text(entity.source.launch_file_path, ctx)), ctx, nodes, declared)
        elif isinstance(entity, GroupAction):
            given = {_text(k, ctx): _text(v, ctx) for k, v in entity.launch_configurations.items()}  # in the outer scope
            if not entity.scoped:
                ctx.configs.update(given)
                _evaluate_entities(entity.actions, ctx, nodes, declared, path)
            elif entity.forwarding:
                inner = Context({**ctx.configs, **given}, ctx.share, ctx.namespace, dict(ctx.env))
                _evaluate_entities(entity.actions, inner, nodes, declared, path)
            else:  # cleared: only the given configurations, the environment launch started with
                inner = Context(given, ctx.share, "", {})  # the ROS namespace is a configuration too
                _evaluate_entities(entity.actions, inner, nodes, declared, path)
        elif isinstance(entity, OpaqueFunction):
            made = entity.function(_FunctionContext(ctx.configs), *entity.args, **entity.kwargs) or []
            _evaluate_entities(made, ctx, nodes, declared, path)
        elif isinstance(entity, PushRosNamespace):
            ctx.namespace = _join_ns(ctx.namespace, _text(entity.namespace, ctx))
        elif isinstance(entity, SetEnvironmentVariable):
            ctx.env[_text(entity.name, ctx)] = _text(entity.value, ctx)
        elif isinstance(entity, LogInfo):
            _text(entity.msg, ctx)
        elif isinstance(entity, Node):
            files, overrides = [], {}
            for item in entity.parameters:
                if isinstance(item, dict):
                    for key, value in item.items():
                        if isinstance(value, (bool, int, float)):
                            overrides[_text(key, ctx)] = value
                        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                            overrides[_text(key, ctx)] = list(value)  # launch_ros: a list of strings stays a list
                        else:
                            overrides[_text(key, ctx)] = _param_value(_text(value, ctx))
                else:
                    file = Path(_text(item, ctx))
                    if not file.is_file():
                        raise LaunchError(f"{path.name}: parameters file {file} does not exist")
                    files.append(file)
            nodes.append(NodeDesc(
                package=entity.package,
                executable=entity.executable,
                name=_text(entity.name, ctx) if entity.name is not None else None,
                namespace=_join_ns(ctx.namespace, _text(entity.namespace, ctx)),
                param_files=files,
                param_overrides=overrides,
                remappings=[(_text(a, ctx), _text(b, ctx)) for a, b in entity.remappings],
                arguments=[_text(a, ctx) for a in entity.arguments],
                launch_file=path,
                env=dict(ctx.env),
            ))
        else:
            raise LaunchError(f"{path.name}: the fake launch cannot evaluate {type(entity).__name__}")


@contextlib.contextmanager
def installed_fake_launch() -> Iterator[None]:
    """Put the fake modules in sys.modules (restoring whatever was there afterwards)."""
    mods = fake_modules()
    saved = {name: sys.modules.get(name) for name in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
