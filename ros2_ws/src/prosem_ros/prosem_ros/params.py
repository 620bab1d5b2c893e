"""Declaring node parameters with a description and a range, and checking updates against them.

rclpy enforces IntegerRange/FloatingPointRange itself; `ParamSpec.check` repeats the range check
with a readable reason and adds choices for strings, so the set-parameters callback can reject
a bad value with a message that says what is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # fixed at start (topics, mode, keys): changing them live is unsafe

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" (one of: {', '.join(self.choices)})"
        desc = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.lo is not None and isinstance(self.default, bool) is False:
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


def declare_all(node: Node, specs: list[ParamSpec]) -> dict[str, Any]:
    """Declare every spec (ranges and read-only enforced by rclpy); returns name -> value.

    Raises ValueError with the reason when a start-up override is out of range or not a choice.
    """
    values = {}
    for spec in specs:
        try:
            values[spec.name] = _declare(node, spec)
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            raise ValueError(f"bad parameter {spec.name}: {exc}") from None
    return values


def _declare(node: Node, spec: ParamSpec) -> Any:
    if isinstance(spec.default, list) and not spec.default:
        # An empty list would be typed BYTE_ARRAY: declare a typed string array without a value.
        node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, spec.descriptor())
        try:
            value = list(node.get_parameter(spec.name).value)
        except ParameterUninitializedException:
            value = []
    else:
        value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
    reason = spec.check(value)
    if reason:
        raise ValueError(f"bad parameter: {reason}")
    return value


def check_update(specs: dict[str, ParamSpec], params: list[Parameter]) -> SetParametersResult:
    for param in params:
        spec = specs.get(param.name)
        if spec is None:
            continue  # e.g. use_sim_time: rclpy's own
        if spec.read_only:
            return SetParametersResult(successful=False, reason=f"{param.name} is read-only (set it at start)")
        reason = spec.check(param.value)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)
