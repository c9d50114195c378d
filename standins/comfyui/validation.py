"""POST /prompt validation, a close port of ComfyUI's execution.validate_prompt.

The error shapes and quirks are the point: unknown class -> missing_node_type with empty
node_errors; per-node errors collected per output; an output whose branch is broken is dropped
while the valid ones are still queued (200 with non-empty node_errors).
"""

from __future__ import annotations

import traceback
from typing import Any

from .nodes import NODE_CLASSES, NodeEnv, input_spec


class MalformedPrompt(Exception):
    """The graph is not a dict of dicts; real ComfyUI crashes on these (HTTP 500)."""


def full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def _exception_reason(kind: str, message: str, ex: BaseException, extra: dict | None = None) -> dict:
    return {"type": kind, "message": message, "details": str(ex),
            "extra_info": {**(extra or {}), "exception_type": full_type_name(type(ex)),
                           "traceback": traceback.format_tb(ex.__traceback__)}}


def check_shape(prompt: Any) -> None:
    if not isinstance(prompt, dict) or not all(isinstance(node, dict) for node in prompt.values()):
        raise MalformedPrompt("prompt must be a dict of node dicts")


def _type_matches(received: Any, wanted: Any) -> bool:
    if received == wanted:
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in wanted.split(",")}
    return "*" in got or "*" in want or bool(got & want)


def _convert(input_type: Any, val: Any) -> Any:
    if isinstance(val, dict) and "__value__" in val:
        val = val["__value__"]
    if input_type == "INT":
        return int(val)
    if input_type == "FLOAT":
        return float(val)
    if input_type == "STRING":
        return str(val)
    if input_type == "BOOLEAN":
        return bool(val)
    return val


def _check_literal(x: str, input_type: Any, extra: dict, val: Any, info: list) -> dict | None:
    base = {"input_name": x, "input_config": info, "received_value": val}
    if "min" in extra and val < extra["min"]:
        return {"type": "value_smaller_than_min", "message": f"Value {val} smaller than min of {extra['min']}",
                "details": x, "extra_info": base}
    if "max" in extra and val > extra["max"]:
        return {"type": "value_bigger_than_max", "message": f"Value {val} bigger than max of {extra['max']}",
                "details": x, "extra_info": base}
    if isinstance(input_type, list) and val not in input_type:
        # Like ComfyUI, long option lists are summarised rather than echoed back.
        listing = f"(list of length {len(input_type)})" if len(input_type) > 20 else str(input_type)
        config = None if len(input_type) > 20 else info
        return {"type": "value_not_in_list", "message": "Value not in list", "details": f"{x}: '{val}' not in {listing}",
                "extra_info": {**base, "input_config": config}}
    return None


def validate_inputs(env: NodeEnv, prompt: dict, unique_id: str, validated: dict, visiting: set) -> tuple:
    if unique_id in validated:
        return validated[unique_id]
    if unique_id in visiting:
        # A cycle: real ComfyUI recurses until Python gives up.
        raise RecursionError("maximum recursion depth exceeded")
    visiting.add(unique_id)
    node = prompt[unique_id]
    inputs = node["inputs"]
    cls = NODE_CLASSES[node["class_type"]]
    specs = cls.input_types(env)
    errors: list[dict] = []
    valid = True
    names = [n for cat in ("required", "optional") for n in specs.get(cat, {})]
    for x in names:
        input_type, category, extra = input_spec(cls, env, x)
        info = [input_type, extra]
        if x not in inputs:
            if category == "required":
                errors.append({"type": "required_input_missing", "message": "Required input is missing",
                               "details": x, "extra_info": {"input_name": x}})
            continue
        val = inputs[x]
        if isinstance(val, list):
            if len(val) != 2:
                errors.append({"type": "bad_linked_input",
                               "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                               "details": x, "extra_info": {"input_name": x, "input_config": info, "received_value": val}})
                continue
            o_id = val[0]
            # KeyError / IndexError / TypeError escape to the caller, as in ComfyUI.
            received = NODE_CLASSES[prompt[o_id]["class_type"]].RETURN_TYPES[val[1]]
            if not _type_matches(received, input_type):
                errors.append({"type": "return_type_mismatch", "message": "Return type mismatch between linked nodes",
                               "details": f"{x}, received_type({received}) mismatch input_type({input_type})",
                               "extra_info": {"input_name": x, "input_config": info, "received_type": received,
                                              "linked_node": val}})
                continue
            try:
                if validate_inputs(env, prompt, o_id, validated, visiting)[0] is False:
                    valid = False
            except Exception as ex:  # noqa: BLE001 - mirrors ComfyUI's catch-all
                valid = False
                validated[o_id] = (False, [_exception_reason(
                    "exception_during_inner_validation", "Exception when validating inner node", ex,
                    {"input_name": x, "input_config": info, "exception_message": str(ex), "linked_node": val})], o_id)
            continue
        try:
            val = _convert(input_type, val)
            inputs[x] = val  # ComfyUI stores the converted value in the queued graph
        except Exception as ex:  # noqa: BLE001
            errors.append({"type": "invalid_input_type",
                           "message": f"Failed to convert an input {x} value to a {input_type} value",
                           "details": f"{x}, {val}, {ex}",
                           "extra_info": {"input_name": x, "input_config": info, "received_value": val,
                                          "exception_message": str(ex)}})
            continue
        if x not in cls.CUSTOM_VALIDATED:
            problem = _check_literal(x, input_type, extra, val, info)
            if problem:
                errors.append(problem)
    if cls.CUSTOM_VALIDATED:
        values = {n: inputs.get(n) for n in cls.CUSTOM_VALIDATED if n in inputs and not isinstance(inputs[n], list)}
        for x, result in cls.validate(env, **values).items():
            if result is not True:
                details = x if result is False else f"{x} - {result}"
                errors.append({"type": "custom_validation_failed", "message": "Custom validation failed for node",
                               "details": details, "extra_info": {"input_name": x}})
    visiting.discard(unique_id)
    ret = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
    validated[unique_id] = ret
    return ret


def _node_error(prompt: dict, x: str, kind: str, message: str) -> dict:
    title = prompt[x].get("_meta", {}).get("title", prompt[x].get("class_type", x))
    return {"type": kind, "message": message, "details": f"Node ID '#{x}'",
            "extra_info": {"node_id": x, "class_type": prompt[x].get("class_type"), "node_title": title}}


def validate_prompt(env: NodeEnv, prompt: Any, partial_targets: list | None = None) -> tuple:
    """(ok, error, good_output_ids, node_errors), ComfyUI's return convention."""
    check_shape(prompt)
    outputs: list[str] = []
    for x, node in prompt.items():
        if "class_type" not in node:
            title = node.get("_meta", {}).get("title", x)
            err = _node_error(prompt, x, "missing_node_type",
                              f"Node '{title}' has no class_type. The workflow may be corrupted or a custom node may be missing.")
            return False, err, [], {}
        cls = NODE_CLASSES.get(node["class_type"]) if env.installed(node["class_type"]) else None
        if cls is None:
            err = _node_error(prompt, x, "missing_node_type",
                              f"Node '{node['class_type']}' not found. The custom node may not be installed.")
            return False, err, [], {}
        if cls.OUTPUT_NODE and (partial_targets is None or x in partial_targets):
            outputs.append(x)
    if not outputs:
        return False, {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}, [], {}

    good: list[str] = []
    failures: list[tuple[str, list]] = []
    node_errors: dict[str, dict] = {}
    validated: dict[str, tuple] = {}
    for o in outputs:
        try:
            valid, reasons, _ = validate_inputs(env, prompt, o, validated, set())
        except Exception as ex:  # noqa: BLE001
            valid, reasons = False, [_exception_reason("exception_during_validation", "Exception when validating node", ex)]
            validated[o] = (False, reasons, o)
        if valid is True:
            good.append(o)
            continue
        failures.append((o, reasons))
        for node_id, (ok, node_reasons, _) in validated.items():
            # Nodes downstream of a broken node fail with no reasons of their own: not reported.
            if ok is not True and node_reasons:
                entry = node_errors.setdefault(node_id, {"errors": node_reasons, "dependent_outputs": [],
                                                         "class_type": prompt[node_id]["class_type"]})
                entry["dependent_outputs"].append(o)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failures for e in errs)
        return False, {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                       "details": details, "extra_info": {}}, [], node_errors
    return True, None, good, node_errors
