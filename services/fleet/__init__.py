"""The fleet telemetry service: enrich and store readings, raise alerts, fan them out once."""
