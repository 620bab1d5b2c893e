"""Node parameters: declared with a description and a range, checked on every change, applied after.

Each node lists its parameters as ParamSpec values. `ParameterBinding` declares them all at start
(rclpy enforces ranges and read-only itself; `ParamSpec.check` repeats the check with a readable
reason and adds choices for strings), refuses parameters the node does not know (a misspelt
`-p max_encode_rat_hz:=2` or YAML key would otherwise be silently ignored), validates updates in the
set-parameters callback (no side effects there: another callback may still reject the change) and
hands accepted values to the node's apply function in the post-set callback.

Lists never default to [] (rclpy would leave such a parameter uninitialised, and `ros2 param dump`
then prints nothing at all for the node): use a value that means "none" or "any" (e.g. ["*"]).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

# Declared by rclpy itself on every node.
RCLPY_PARAMETERS = ("use_sim_time", "start_type_description_service")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # fixed at start (topics, mode, models, keys): changing them live is unsafe

    def __post_init__(self) -> None:
        if isinstance(self.default, list) and not self.default:
            raise ValueError(f"{self.name}: a list parameter needs a non-empty default (see the module docstring)")

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" (one of: {', '.join(self.choices)})"
        desc = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.lo is not None and not isinstance(self.default, bool):
            if isinstance(self.default, int):
                desc.integer_range = [IntegerRange(from_value=int(self.lo), to_value=int(self.hi), step=1)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(self.lo), to_value=float(self.hi), step=0.0)]
        return desc

    def check(self, value: Any) -> str | None:
        """None if acceptable, else the reason."""
        if isinstance(self.default, bool):
            return None if isinstance(value, bool) else f"{self.name} must be a bool"
        if isinstance(self.default, (int, float)) and not isinstance(value, bool):
            if isinstance(self.default, float) and not isinstance(value, (int, float)):
                return f"{self.name} must be a number"
            if isinstance(self.default, int) and not isinstance(value, int):
                return f"{self.name} must be an integer"
            if value != value:
                return f"{self.name} must not be NaN"
            if self.lo is not None and not self.lo <= value <= self.hi:
                return f"{self.name}={value} outside [{self.lo:g}, {self.hi:g}]"
            return None
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} not one of {', '.join(self.choices)}"
        return None


class ParameterBinding:
    """Declares a node's parameters and keeps `values` in step with accepted changes.

        self.params = ParameterBinding(self, PARAMS, apply=self._apply, cross_check=...)
        self.params.values["max_encode_rate_hz"]

    `cross_check(new_values) -> reason | None` checks relations between parameters (e.g. min <= max);
    `apply(changed_names)` runs after a change was accepted (post-set callback).
    Raises ValueError at start for a bad or unknown parameter (the node turns it into a StartupError).
    """

    def __init__(self, node: Node, specs: list[ParamSpec], apply: Callable[[set[str]], None] | None = None,
                 cross_check: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.node = node
        self.specs = {s.name: s for s in specs}
        self._apply = apply
        self._cross_check = cross_check
        self.values: dict[str, Any] = {}
        self.rejected = 0  # changes refused (counted on the node's ~/counters)
        for spec in specs:
            try:
                value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
            except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
                raise ValueError(f"bad parameter {spec.name}: {exc}") from None
            value = list(value) if isinstance(spec.default, list) else value
            reason = spec.check(value)
            if reason:
                raise ValueError(f"bad parameter: {reason}")
            self.values[spec.name] = value
        unknown = self.unknown_overrides()
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for node {node.get_fully_qualified_name()} "
                             f"(it declares: {', '.join(sorted(self.specs))})")
        if self._cross_check is not None:
            reason = self._cross_check(dict(self.values))
            if reason:
                raise ValueError(f"bad parameters: {reason}")
        node.add_on_set_parameters_callback(self._validate)
        node.add_post_set_parameters_callback(self._applied)

    def unknown_overrides(self) -> list[str]:
        """Parameters given to this node (command line, params file) that it does not declare.
        rclpy keeps them in the node's override table and otherwise ignores them."""
        given = getattr(self.node, "_parameter_overrides", {})  # rclpy's record of -p / --params-file values
        return sorted(name for name in given if name not in self.specs and name not in RCLPY_PARAMETERS)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        reason = self.check(params)
        if reason:
            self.rejected += 1
            self.node.get_logger().warning(f"parameter change rejected: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def check(self, params: list[Parameter]) -> str | None:
        """Why this change is refused, or None (no side effects)."""
        new = dict(self.values)
        for param in params:
            spec = self.specs.get(param.name)
            if spec is None:
                continue  # rclpy's own (use_sim_time)
            if spec.read_only:
                return f"{param.name} is read-only (set it at start)"
            value = list(param.value) if isinstance(spec.default, list) else param.value
            reason = spec.check(value)
            if reason:
                return reason
            new[param.name] = value
        return self._cross_check(new) if self._cross_check is not None else None

    def _applied(self, params: list[Parameter]) -> None:
        changed = set()
        for param in params:
            spec = self.specs.get(param.name)
            if spec is not None:
                self.values[param.name] = list(param.value) if isinstance(spec.default, list) else param.value
                changed.add(param.name)
        if changed and self._apply is not None:
            self._apply(changed)
