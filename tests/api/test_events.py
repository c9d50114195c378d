"""Following a job: progress messages in order over a WebSocket and over Server-Sent Events, then the job."""

from __future__ import annotations

import json
import uuid

import aiohttp

RANK = {"queued": 0, "running": 1, "succeeded": 2}


def t2i_body() -> dict:
    return {"workflow": "t2i_basic", "params": {"steps": 8, "width": 64, "height": 64,
                                                "seed": uuid.uuid4().int % 10**9}}


def assert_in_order(messages: list[dict]) -> None:
    assert messages, "no progress message"
    assert all(set(m) == {"status", "progress", "queue_position", "estimated_start_at"} for m in messages)
    ranks = [RANK[m["status"]] for m in messages]
    progress = [m["progress"] for m in messages]
    assert ranks == sorted(ranks) and progress == sorted(progress), messages
    assert messages[-1]["status"] == "succeeded"
    assert any(m["status"] == "running" and 0 < m["progress"] < 1 for m in messages), messages


async def test_websocket_streams_progress_in_order_then_the_finished_job(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 1.5})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json=t2i_body())).json()
    ws_url = api_server.url.replace("http", "ws") + f"/api/v1/jobs/{job['id']}/events"
    messages = []
    async with aiohttp.ClientSession() as session, session.ws_connect(
            ws_url, headers={"Authorization": f"Bearer {created.secret}"}) as ws:
        async for message in ws:
            messages.append(json.loads(message.data))
        assert ws.close_code == 1000
    *progress, final = messages
    assert_in_order(progress)
    assert final["job"]["id"] == job["id"] and final["job"]["status"] == "succeeded"
    assert final["job"]["outputs"][0]["width"] == 64


async def test_server_sent_events_stream_the_same_messages(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 1.5})
    created = await make_key()
    events = []
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json=t2i_body())).json()
        async with http.stream("GET", f"/api/v1/jobs/{job['id']}/events",
                               headers={"Accept": "text/event-stream"}) as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in reply.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
    assert [kind for kind, _ in events[:-1]] == ["progress"] * (len(events) - 1)
    assert_in_order([data for _, data in events[:-1]])
    assert events[-1][0] == "job" and events[-1][1]["status"] == "succeeded"


async def test_events_of_a_finished_job_are_its_final_state_at_once(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/generate", json=t2i_body())).json()
        reply = await http.get(f"/api/v1/jobs/{job['id']}/events")
    lines = [line for line in reply.text.splitlines() if line]
    assert lines[0] == "event: progress" and lines[2] == "event: job"
    assert json.loads(lines[3].removeprefix("data: "))["status"] == "succeeded"


async def test_websocket_refuses_a_missing_key_a_missing_scope_and_another_keys_job(api_server, make_key):
    owner, stranger = await make_key(name="owner"), await make_key(name="stranger")
    generate_only = await make_key(name="generate-only", scopes=["generate"])
    async with api_server.client(owner.secret) as http:
        job = (await http.post("/api/v1/jobs", json=t2i_body())).json()
    ws_url = api_server.url.replace("http", "ws") + f"/api/v1/jobs/{job['id']}/events"
    async with aiohttp.ClientSession() as session:
        for secret, code in ((None, 4401), ("sk_not_a_key", 4401), (generate_only.secret, 4403),
                             (stranger.secret, 4404)):
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            async with session.ws_connect(ws_url, headers=headers) as ws:
                message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == code, (secret, message)
