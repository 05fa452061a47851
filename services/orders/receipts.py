"""Receipts: one JSON document per order in object storage, written only if absent.

`receipt` builds the document from the order alone (so every attempt writes the same bytes);
`receipt_key` files it under ``receipts/YYYY/MM/DD/<orderId>.json`` by the order's UTC date.
`S3ReceiptStore` writes with ``If-None-Match: *`` (S3 conditional write: never overwrites, no
check-then-write race) and server-side encryption; `DirectoryReceiptStore` is the local store of
`tidal dev` (a hard link, which fails if the name exists, makes the write create-only).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from services.orders.parsing import Order
from tidal import RetryableError

CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def receipt(order: Order) -> dict[str, Any]:
    """The receipt document of an order; money as decimal strings, never floats."""
    return {
        "receiptId": f"rcpt-{order.order_id}",
        "orderId": order.order_id,
        "storeId": order.store_id,
        "customerId": order.customer_id,
        "issuedAt": order.finalized_at.isoformat().replace("+00:00", "Z"),
        "currency": order.currency,
        "lines": [
            {
                "sku": line.sku,
                "qty": line.qty,
                "unitPrice": f"{line.unit_price:.2f}",
                "amount": f"{line.amount:.2f}",
            }
            for line in order.lines
        ],
        "total": f"{order.total:.2f}",
    }


def receipt_key(order: Order, prefix: str = "receipts/") -> str:
    return f"{prefix}{order.finalized_at:%Y/%m/%d}/{order.order_id}.json"


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, indent=1).encode()


class ReceiptStore(Protocol):
    async def put_once(self, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key`` unless something is there; True when written now."""
        ...

    def location(self, key: str) -> str:
        """Where ``key`` lives, as a URI (``s3://...``, ``file://...``)."""
        ...


class DirectoryReceiptStore:
    """Receipts as files under ``root`` (created on demand)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put_once(self, key: str, body: bytes) -> bool:
        return await asyncio.to_thread(self._put_once, key, body)

    def _put_once(self, key: str, body: bytes) -> bool:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            os.link(temporary, target)
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
        return True

    def location(self, key: str) -> str:
        return (self.root / key).resolve().as_uri()


class S3ReceiptStore:
    """Receipts in an S3 (or S3-compatible) bucket; ``client`` is a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put_once(self, key: str, body: bytes) -> bool:
        return await asyncio.to_thread(self._put_once, key, body)

    def _put_once(self, key: str, body: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                IfNoneMatch="*",
                ServerSideEncryption="AES256",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in CONFLICTS:
                return False
            raise RetryableError(f"writing receipt {key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"writing receipt {key} failed: {exc}") from exc
        return True

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
