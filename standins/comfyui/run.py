"""One prompt's execution: the WebSocket message sequence of protocol §4 and the history entry
of §5. Kept apart from the queue loop so the event order is readable top to bottom."""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import TYPE_CHECKING, Any

from .cache import signatures
from .nodes import NODE_CLASSES, ExecContext, InterruptedByUser, NodeOutput
from .validation import full_type_name

if TYPE_CHECKING:
    from .executor import Executor


def now_ms() -> int:
    return int(time.time() * 1000)


class Interrupted(Exception):
    def __init__(self, node_id: str, class_type: str) -> None:
        super().__init__(node_id)
        self.node_id, self.class_type = node_id, class_type


class NodeFailed(Exception):
    def __init__(self, node_id: str, class_type: str, error: BaseException, inputs: dict) -> None:
        super().__init__(str(error))
        self.node_id, self.class_type, self.error, self.inputs = node_id, class_type, error, inputs


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _format_value(value: Any) -> Any:
    # ComfyUI's format_value: scalars as they are, everything else (tensors, models) as str().
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


class PromptRun:
    def __init__(self, executor: "Executor", item: list) -> None:
        self.ex = executor
        self.hub = executor.hub
        self.item = item
        self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs = item
        self.model_loads = 0
        self.client_id = self.extra_data.get("client_id")
        self.messages: list[list] = []
        self.progress_nodes: dict[str, dict] = {}
        self.executed: list[str] = []
        self.results: dict[str, tuple] = {}
        self.ui_outputs: dict[str, dict] = {}
        self.meta: dict[str, dict] = {}

    # --- messages
    def add_message(self, event: str, data: dict, broadcast: bool) -> None:
        """Recorded in history status.messages; sent to the prompt's client (or all if broadcast)."""
        data = {**data, "timestamp": now_ms()}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.hub.send(event, data, self.client_id)

    def to_client(self, event: str, data: dict) -> None:
        """Per-prompt events: nobody hears them when the prompt was posted without client_id."""
        if self.client_id is not None:
            self.hub.send(event, data, self.client_id)

    def progress_state(self, node_id: str, state: str, value: float = 0, maximum: float = 1) -> None:
        if not self.ex.behaviour.progress_state:
            return
        self.progress_nodes[node_id] = {"value": value, "max": maximum, "state": state}
        nodes = {nid: {**s, "node_id": nid, "prompt_id": self.prompt_id, "display_node_id": nid,
                       "parent_node_id": None, "real_node_id": nid} for nid, s in self.progress_nodes.items()}
        # Goes to the client, or to everyone when there is no client_id (as observed).
        self.hub.send("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes}, self.client_id)

    # --- the whole prompt
    async def execute(self) -> dict:
        faults, env = self.ex.faults, self.ex.env
        self.add_message("execution_start", {"prompt_id": self.prompt_id}, broadcast=False)
        if faults.take("drop_socket_after_start"):
            self.hub.close_socket_after_queued(self.client_id)
        sigs = await asyncio.to_thread(signatures, env, self.prompt)
        self.ex.cache.keep_only(set(sigs.values()))
        cached = [nid for nid in self.prompt if self.ex.cache.get(sigs[nid]) is not None]
        self.add_message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id}, broadcast=False)
        try:
            if faults.prompt_latency_s > 0:
                await asyncio.sleep(faults.prompt_latency_s)
            for node_id in self._order(sigs, set(cached)):
                await self._run_node(node_id, sigs[node_id])
        except Interrupted as stop:
            self.add_message("execution_interrupted", {
                "prompt_id": self.prompt_id, "node_id": stop.node_id, "node_type": stop.class_type,
                "executed": list(self.executed)}, broadcast=True)
            return self._status("error", "interrupted")
        except NodeFailed as fail:
            newline = "\n" if self.ex.behaviour.error_message_newline else ""
            self.add_message("execution_error", {
                "prompt_id": self.prompt_id, "node_id": fail.node_id, "node_type": fail.class_type,
                "executed": list(self.executed), "exception_message": f"{fail.error}{newline}",
                "exception_type": full_type_name(type(fail.error)),
                "traceback": traceback.format_tb(fail.error.__traceback__),
                "current_inputs": fail.inputs, "current_outputs": list(self.prompt)}, broadcast=False)
            return self._status("error", "error")
        self.add_message("execution_success", {"prompt_id": self.prompt_id}, broadcast=False)
        return self._status("success", "success")

    def _status(self, status_str: str, outcome: str) -> dict:
        ok = status_str == "success"
        return {"outcome": outcome, "outputs": self.ui_outputs if ok else {}, "meta": self.meta if ok else {},
                "status": {"status_str": status_str, "completed": ok, "messages": self.messages}}

    def _order(self, sigs: dict[str, str], cached: set[str]) -> list[str]:
        """Output nodes and their ancestors, dependencies first; a cached node's inputs are not needed."""
        order: list[str] = []
        seen: set[str] = set()
        for output in self.outputs:
            # Iterative post-order DFS: (node, expanded?) pairs instead of recursion.
            stack = [(output, False)]
            while stack:
                node_id, expanded = stack.pop()
                if expanded:
                    order.append(node_id)
                    continue
                if node_id in seen:
                    continue
                seen.add(node_id)
                stack.append((node_id, True))
                if node_id not in cached:
                    links = [v[0] for v in self.prompt[node_id].get("inputs", {}).values() if _is_link(v)]
                    stack.extend((dep, False) for dep in reversed(links) if dep not in seen)
        return order

    # --- one node
    async def _run_node(self, node_id: str, key: str) -> None:
        node = self.prompt[node_id]
        class_type = node["class_type"]
        hit = self.ex.cache.get(key)
        if hit is not None:
            self.results[node_id] = hit[0]
            self._record_ui(node_id, hit[1])
            self.progress_state(node_id, "finished", 1, 1)
            self.executed.append(node_id)
            return
        self.progress_state(node_id, "running", 0, 1)
        self.hub.last_node_id = node_id
        self.to_client("executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id})
        inputs = self._resolve(class_type, node["inputs"])
        formatted = {name: [_format_value(v)] for name, v in inputs.items()}
        if self.ex.interrupt_flag:  # cooperative: checked as each node starts
            raise Interrupted(node_id, class_type)
        try:
            output = await self._call(node_id, class_type, inputs)
        except InterruptedByUser:
            raise Interrupted(node_id, class_type) from None
        except Exception as error:  # noqa: BLE001 - any node error becomes execution_error
            raise NodeFailed(node_id, class_type, error, formatted) from None
        if not isinstance(output, NodeOutput):
            output = NodeOutput(tuple(output), None)
        self.ex.cache.put(key, output.outputs, output.ui)
        self.results[node_id] = output.outputs
        self._record_ui(node_id, output.ui)
        self.progress_state(node_id, "finished", 1, 1)
        self.executed.append(node_id)

    async def _call(self, node_id: str, class_type: str, inputs: dict) -> Any:
        cls = NODE_CLASSES[class_type]
        latency = self.ex.faults.node_latency.get(class_type, 0.0)
        message = self.ex.faults.should_fail(class_type)
        if message is not None:
            raise RuntimeError(message)
        if latency > 0 and not cls.OWN_LATENCY:
            await asyncio.sleep(latency)  # one long op: not interruptible, like a real node
        ctx = ExecContext(
            env=self.ex.env, node_id=node_id, prompt_id=self.prompt_id, prompt=self.prompt,
            extra_data=self.extra_data, latency_s=latency, model_load_s=self.ex.faults.model_load_s,
            model_loaded=self._model_loaded, is_interrupted=lambda: self.ex.interrupt_flag,
            progress=lambda value, maximum: self._progress(node_id, value, maximum),
            preview=lambda png: self._preview(node_id, png))
        node = cls()
        if cls.is_async():
            return await node.run(ctx, **inputs)
        return await asyncio.to_thread(node.run, ctx, **inputs)

    def _model_loaded(self, seconds: float) -> None:
        self.model_loads += 1
        self.ex.stats.model_loaded(self.item, seconds)

    async def _progress(self, node_id: str, value: int, maximum: int) -> None:
        self.to_client("progress", {"value": value, "max": maximum, "prompt_id": self.prompt_id, "node": node_id})
        self.progress_state(node_id, "running", value, maximum)
        await asyncio.sleep(0)  # let HTTP/WS work in between steps

    async def _preview(self, node_id: str, png: bytes) -> None:
        if self.client_id is not None:
            self.hub.send_preview(png, self.client_id, {
                "node_id": node_id, "prompt_id": self.prompt_id, "display_node_id": node_id,
                "parent_node_id": None, "real_node_id": node_id})

    def _resolve(self, class_type: str, raw: dict) -> dict:
        # Only declared inputs reach the node, as ComfyUI's get_input_data does.
        specs = NODE_CLASSES[class_type].input_types(self.ex.env)
        declared = {n for cat in ("required", "optional") for n in specs.get(cat, {})}
        return {name: self.results[v[0]][v[1]] if _is_link(v) else v
                for name, v in raw.items() if name in declared}

    def _record_ui(self, node_id: str, ui: dict | None) -> None:
        if not ui:
            return
        self.ui_outputs[node_id] = ui
        self.meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
        self.to_client("executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": self.prompt_id})
