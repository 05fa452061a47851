"""Dashboards and alert rules as code: the generator of the chart's monitoring files.

``python -m monitoring`` writes the Grafana dashboards (`monitoring.dashboards`, built with
grafana-foundation-sdk) to ``charts/tidal/dashboards/*.json`` and the Prometheus alert rules
(`monitoring.alerts`) to ``charts/tidal/rules/tidal.rules.yaml``; ``--check`` fails when the
committed files differ from what the code generates. Both share `monitoring.promql`, so a
dashboard and an alert never disagree on what an error or a dead letter is.
"""
