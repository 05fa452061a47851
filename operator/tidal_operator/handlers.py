"""The kopf handlers: thin I/O around the pure reconcile in ``tidal_operator.reconciling``.

``register(registry, config=..., login=...)`` adds, for both kinds, a reconcile handler on
create / update / resume and on a timer (level-triggered: it also re-reads the children's
results into the status), and a delete handler that runs under the ``tidal.dev/cleanup``
finalizer and deletes the children. Every reconcile also updates the resource's exported run
results (``tidal_operator.metrics``), served on ``/metrics`` from the startup handler.
``tidal_operator.main`` registers them for ``kopf run``; tests register them into a fresh
registry with a login pointing at an emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import kopf

from tidal.observability import register as export
from tidal.observability import unregister
from tidal_operator import metrics
from tidal_operator.config import OperatorConfig
from tidal_operator.crds import GROUP, VERSION
from tidal_operator.kube import HttpKubeApi, KubeApi, KubeError, Manifest
from tidal_operator.pods import OWNER_UID_LABEL
from tidal_operator.reconciling import (
    KINDS,
    Kind,
    Plan,
    obsolete,
    plan,
    summarize,
)
from tidal_operator.summarizing import Observed

Login = Callable[..., kopf.ConnectionInfo | None]

FINALIZER: Final = f"{GROUP}/cleanup"
RETRY_DELAY: Final = 30.0
TIMER_EXIT_POLLING: Final = 2.0


def configure(settings: kopf.OperatorSettings) -> None:
    """Our finalizer; kopf's bookkeeping in tidal.dev annotations, never in the status."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # a deletion waits for a running resync timer; re-check it soon rather than in a minute
    settings.background.cancellation_polling = TIMER_EXIT_POLLING


class Operator:
    """The handlers' shared state: settings, the login function and the children's API client."""

    def __init__(self, *, config: OperatorConfig, login: Login) -> None:
        self.config = config
        self._login = login
        self._settings = kopf.OperatorSettings()
        self._http = HttpKubeApi(self._credentials)
        self.api: KubeApi = self._http
        self.results = metrics.Results()
        export(self, self.results.source)
        self.metrics: metrics.Server | None = None

    async def _credentials(self) -> kopf.ConnectionInfo:
        info = self._login(settings=self._settings, logger=logging.getLogger(__name__))
        if info is None:
            raise kopf.TemporaryError("no Kubernetes credentials found", delay=RETRY_DELAY)
        return info

    def login(
        self, *, settings: kopf.OperatorSettings, **kwargs: Any
    ) -> kopf.ConnectionInfo | None:
        """kopf's login handler: the same credentials for kopf and for the children's client."""
        self._settings = settings
        return self._login(settings=settings, **kwargs)

    def startup(self, *, settings: kopf.OperatorSettings, **_: Any) -> None:
        self._settings = settings
        configure(settings)
        if self.metrics is None:
            self.metrics = metrics.serve(self.config.metrics_port)

    async def shutdown(self, **_: Any) -> None:
        await self._http.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        unregister(self.results.source)

    async def reconcile(self, kind: Kind[Any], body: kopf.Body, patch: kopf.Patch) -> None:
        """Apply the children, delete obsolete ones, then write the status from what is there."""
        desired = plan(kind, body, self.config, await self._referenced(kind, body))
        error = await self._apply(desired, body) if desired.valid else None
        existing = await self._owned(desired)
        for child in obsolete(desired, existing):
            await self.api.delete(child["kind"], desired.owner.namespace, child["metadata"]["name"])
        observed = await self._observe(desired, existing, error)
        previous = dict(body.get("status") or {})
        now = datetime.now(UTC)
        status = summarize(desired, observed, previous, now=now)
        patch.status.update(status)
        self.results.update(desired, body, status, now)
        if error:
            raise kopf.TemporaryError(error, delay=RETRY_DELAY)

    async def _referenced(self, kind: Kind[Any], body: kopf.Body) -> Manifest | None:
        """The object the spec names (a Restore's BackupLocation), None when there is none."""
        named = kind.reference(body.get("spec") or {}) if kind.reference else None
        if named is None:
            return None
        namespace = body.get("metadata", {}).get("namespace") or "default"
        return await self.api.get(named[0], namespace, named[1])

    async def _apply(self, desired: Plan[Any], body: kopf.Body) -> str | None:
        children = [dict(child) for child in desired.children]
        kopf.adopt(children, owner=body)
        for child in children:
            try:
                await self.api.apply(child)
            except KubeError as exc:
                return f"{child['kind']} {child['metadata']['name']}: {exc}"
        return None

    async def _list(self, kind: str, namespace: str, labels: Mapping[str, str]) -> list[Manifest]:
        try:
            return await self.api.list(kind, namespace, labels)
        except KubeError as exc:
            if exc.status == 404:  # the kind is not installed (e.g. KEDA): nothing to observe
                return []
            raise

    async def _owned(self, desired: Plan[Any]) -> list[Manifest]:
        owner = desired.owner
        found: list[Manifest] = []
        for child_kind in desired.kind.managed:
            found += await self._list(child_kind, owner.namespace, {OWNER_UID_LABEL: owner.uid})
        return found

    async def _observe(
        self, desired: Plan[Any], existing: list[Manifest], error: str | None
    ) -> Observed:
        owner, label = desired.owner, desired.kind.label
        jobs = await self._list("Job", owner.namespace, {label: owner.name})
        pods = await self._list("Pod", owner.namespace, {label: owner.name})
        children = {(child["kind"], child["metadata"]["name"]): child for child in existing}
        return Observed(
            children=children, jobs=jobs, pods=pods, apply_error=error, now=datetime.now(UTC)
        )

    async def cleanup(self, kind: Kind[Any], body: kopf.Body) -> None:
        """Delete everything the resource owns: its children and the runs its CronJobs made."""
        desired = plan(kind, body, self.config)
        owner = desired.owner
        doomed = await self._owned(desired)
        doomed += await self._list("Job", owner.namespace, {kind.label: owner.name})
        for child in doomed:
            await self.api.delete(child["kind"], owner.namespace, child["metadata"]["name"])
        self.results.forget(desired)


def _watch(registry: kopf.OperatorRegistry, operator: Operator, kind: Kind[Any]) -> None:
    resource = (GROUP, VERSION, kind.plural)

    async def reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        await operator.reconcile(kind, body, patch)

    async def cleanup(body: kopf.Body, **_: Any) -> None:
        await operator.cleanup(kind, body)

    for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
        decorator(*resource, id="reconcile", registry=registry)(reconcile)
    kopf.timer(*resource, id="resync", interval=operator.config.resync_interval, registry=registry)(
        reconcile
    )
    kopf.on.delete(*resource, id="cleanup", registry=registry)(cleanup)


def register(
    registry: kopf.OperatorRegistry,
    *,
    config: OperatorConfig,
    login: Login,
) -> Operator:
    """Add every handler of the operator to ``registry``; ``login`` gives the API credentials."""
    operator = Operator(config=config, login=login)
    kopf.on.login(id="login", registry=registry)(operator.login)
    kopf.on.startup(id="settings", registry=registry)(operator.startup)
    kopf.on.cleanup(id="close", registry=registry)(operator.shutdown)
    for kind in KINDS:
        _watch(registry, operator, kind)
    return operator
