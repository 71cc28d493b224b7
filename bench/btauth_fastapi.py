"""The baseline of bench/axon_btauth.ts: what a subnet on bittensor 11 writes by the SDK's own recipe, a
FastAPI app on uvicorn that authenticates each request with `bittensor.http_auth.verify` (its default
in-memory nonce store) and answers a task status, serving the same route as the miner's task API:
`GET /v1/tasks/{task_id}`. The blacklist is the hotkeys given in --allow (as a metagraph would).
uvicorn runs as `pip install fastapi uvicorn` gives it (h11, asyncio), one worker, no access log.
Prints one JSON line {"port": N} once serving; stops when stdin closes.

  .venv-bt11/bin/python bench/btauth_fastapi.py --receiver 5F... --allow 5G...
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time

import uvicorn
from bittensor import http_auth
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(receiver: str, allow: set[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/tasks/{task_id}")
    async def task_status(task_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        query = request.scope["query_string"].decode("latin-1")
        target = request.scope["raw_path"].decode("latin-1") + (
            f"?{query}" if query else ""
        )
        try:
            caller = http_auth.verify(
                request.headers,
                body,
                method=request.method,
                path=target,
                self_hotkey_ss58=receiver,
            )
        except http_auth.WrongReceiver as e:
            return JSONResponse(
                {"error": "wrong_receiver", "message": str(e)}, status_code=403
            )
        except http_auth.AuthError as e:
            return JSONResponse(
                {"error": type(e).__name__, "message": str(e)}, status_code=401
            )
        if caller.hotkey_ss58 not in allow:
            return JSONResponse(
                {"error": "not_registered", "message": "Unrecognized hotkey"},
                status_code=403,
            )
        reply = {
            "task_id": task_id,
            "state": "queued",
            "progress": None,
            "result_repo": None,
            "reason": None,
        }
        return JSONResponse(reply)

    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--receiver", required=True)
    p.add_argument("--allow", nargs="*", default=[])
    args = p.parse_args()
    port = free_port()
    config = uvicorn.Config(
        build(args.receiver, set(args.allow)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()  # until the parent closes stdin
    server.should_exit = True
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
