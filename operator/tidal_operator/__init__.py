"""tidal's Kubernetes operator: BackupPolicy and DLQArchive custom resources (``tidal.dev``).

Layout, top down: ``main`` (entry for ``kopf run``) -> ``handlers`` (kopf handlers, I/O via
``kube``) -> ``reconciling`` (pure: spec -> children + status) -> ``backups`` / ``dlqs``
(children), ``backup_status`` / ``dlq_status`` (status), ``specs`` / ``checks`` (reading and
refusing specs), ``results`` (the data plane's termination-message contract), ``crds`` (the
CustomResourceDefinitions, the one source of truth for the YAML under ``k8s/crds``).

The operator never imports the tidal services, and not the ``tidal`` runtime either: the children
it creates run the tidal image's command line.
"""

from tidal_operator.crds import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION"]
