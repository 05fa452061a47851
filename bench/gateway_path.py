"""Gateway ingest benchmark: the reference gateway vs a bare FastAPI endpoint, same JSON Schema.

Both answer ``POST /telemetry`` with a vehicle reading: the bare endpoint reads the body, parses
it and validates it against the catalogue's telemetry schema (the same validator object the
gateway uses: jsonschema-rs accepts valid data, jsonschema explains invalid data), then answers
202; the gateway does everything it does in production (bearer token,
size limit, media type, schema, CloudEvent with the reading's id, publish) with a publisher that
discards what it is given, so the broker's cost is not measured. Both run under uvicorn (uvloop,
httptools, one worker, no access log), loaded in turn by ``wrk`` from a second process; rounds
alternate so drift hits both alike. Run: ``python -m bench.gateway_path --rounds 5 --seconds 5``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from harness.servers import free_port
from pydantic import SecretStr
from services.catalog import SchemaViolation, load_catalog
from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from starlette.requests import Request
from starlette.responses import JSONResponse

from bench.http_path import load, start, uvicorn_cmd
from tidal._publishing import DiscardingPublisher

TOKEN: Final = "bench-token"
READING: Final = {
    "vehicleId": "VH-1001",
    "messageId": "msg-bench-0000001",
    "timestamp": "2026-11-02T10:15:00Z",
    "coordinates": {"lat": 52.5096, "lon": 13.376},
    "metrics": {"speedKph": 42.5, "fuelPercentage": 61.5},
    "engineTemperature": {"value": 94.0, "unit": "C"},
}
TELEMETRY: Final = load_catalog().get("com.acme.fleet.telemetry.v1")
assert TELEMETRY is not None

gateway = create_gateway(DiscardingPublisher(), GatewaySettings(tokens=[SecretStr(TOKEN)]))
bare = FastAPI()


@bare.post("/telemetry", status_code=202)
async def bare_telemetry(request: Request) -> JSONResponse:
    data = json.loads(await request.body())
    try:
        TELEMETRY.validate(data)  # type: ignore[union-attr]
    except SchemaViolation as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse({"id": data["messageId"]}, status_code=202)


def script() -> str:
    body = json.dumps(READING).replace("'", "\\'")
    return f"""
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer {TOKEN}"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    ports = {"bare": free_port(), "gateway": free_port()}
    procs = [
        start(uvicorn_cmd(f"bench.gateway_path:{name}", port), port) for name, port in ports.items()
    ]
    results: dict[str, list[float]] = {"bare": [], "gateway": []}
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(script())
        lua = Path(fh.name)
        for _ in range(args.rounds):
            for name, port in ports.items():
                rate = load(
                    port, lua, seconds=args.seconds, connections=args.connections, path="/telemetry"
                ).rate
                results[name].append(rate)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    b, g = statistics.median(results["bare"]), statistics.median(results["gateway"])
    for name, median in (("bare FastAPI + same schema", b), ("tidal gateway", g)):
        rounds = ", ".join(f"{x:,.0f}" for x in results["bare" if median is b else "gateway"])
        print(f"{name:26} {median:,.0f} req/s (rounds: {rounds})")
    print(f"ratio gateway / bare: {g / b:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
