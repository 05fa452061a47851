"""``tidal backup test-restore``: restore a policy's newest good backup into scratch topics and
compare it with the backup, record for record (`tidal_data.restoretest`).

What a BackupPolicy's ``spec.restoreTest`` CronJob runs: the backup is chosen as ``tidal
restore`` chooses it (the newest that verifies now), restored into ``<scratch prefix><run>.``
topics of the test cluster, read back and compared per partition (count and sha256), then the
scratch topics are deleted. A difference fails the run with ``RestoreTestMismatch``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import click

from tidal_data.cli.restore import _chosen, _publish, _wanted
from tidal_data.cli.shared import comma_list, execute, open_store, result_options
from tidal_data.cli.storeoptions import object_store_options
from tidal_data.errors import RunFailure
from tidal_data.filters import Selection
from tidal_data.kafka import kafka_settings
from tidal_data.marks import Done
from tidal_data.restore import Target
from tidal_data.restoretest import compare, delete_topics, digest_backup, digest_target
from tidal_data.results import RunResult
from tidal_data.topics import create_targets


class RestoreTestMismatch(RunFailure):
    """The restored copy differs from the backup."""


@click.command("test-restore")
@object_store_options
@click.option("--policy", default=None, help="Whose backups (<namespace>/<name>).")
@click.option("--bootstrap-servers", required=True, help="The cluster the scratch topics go to.")
@click.option(
    "--scratch-prefix",
    default="tidal-restore-test.",
    show_default=True,
    help="Scratch topics are <prefix><run>.<topic>; deleted afterwards.",
)
# 1 by default, not the cluster's default: scratch topics, read back once and deleted afterwards
# (a lost broker fails the test, it loses no data).
@click.option("--replication-factor", type=click.IntRange(1), default=1, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the scratch topics (to look into them).")
@result_options
def test_restore(result_file: Path | None, show_progress: bool, **options: Any) -> None:
    """Restore the newest backup that verifies into scratch topics and compare them with it."""

    async def body(result: RunResult) -> None:
        store = open_store(options)
        manifest = await asyncio.to_thread(_chosen, store, {**options, "backup_id": None})
        settings = kafka_settings(comma_list(options["bootstrap_servers"]))
        run = f"restore-test-{uuid.uuid4().hex[:12]}"
        prefix = f"{options['scratch_prefix']}{run}."
        wanted = _wanted(manifest, Target(prefix=prefix), ())
        partitions = await create_targets(
            settings, wanted, replication_factor=options["replication_factor"]
        )
        try:
            target = Target(prefix=prefix, partitions=partitions)
            flags = {
                "topics": (),
                "dry_run": False,
                "rate_limit": 0,
                "show_progress": show_progress,
            }
            await _publish(store, manifest, settings, target, Selection(), run, Done(), flags)
            expected = await asyncio.to_thread(digest_backup, store, manifest)
            problems = compare(expected, await digest_target(settings, partitions), prefix)
        finally:
            if not options["keep"]:
                await delete_topics(settings, sorted(partitions))
        events = sum(d.count for d in expected.values())
        result.counts = {"events": events, "partitions": len(expected)}
        result.backup = {"id": manifest.id, "verified": manifest.verified, "restored": not problems}
        if problems:
            raise RestoreTestMismatch(f"backup {manifest.id}: " + "; ".join(problems[:10]))
        click.echo(f"backup {manifest.id} restored identical: {events} events in "
                   f"{len(expected)} partitions")  # fmt: skip

    execute("backup test-restore", result_file, body)
