"""The OTel Resource: who is emitting (service, instance, environment, host, process)."""

from __future__ import annotations

import platform
import socket
import uuid

from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    OsResourceDetector,
    ProcessResourceDetector,
    Resource,
    get_aggregated_resources,
)
from opentelemetry.util.types import AttributeValue

from otel_trading._version import __version__
from otel_trading.config._settings import Settings
from otel_trading.redaction import Redactor

# A process's full command line can carry credentials (``--api-key=...``); older SDK versions
# detect it by default.
_NOT_EXPORTED = ("process.command_line", "process.command_args")


def _detected() -> dict[str, AttributeValue]:
    """os.* and process.* as the SDK's own detectors name and spell them (``os.type`` is
    ``linux``, ``windows``, ``darwin``... per the semantic conventions)."""
    detected = get_aggregated_resources([OsResourceDetector(), ProcessResourceDetector()], Resource.get_empty())
    return {key: value for key, value in detected.attributes.items() if key not in _NOT_EXPORTED}


def build_resource(settings: Settings, redactor: Redactor) -> Resource:
    """The process's Resource, scrubbed once here: it is repeated in every export and store file."""
    attributes: dict[str, AttributeValue] = {
        **_detected(),
        # New at each configuration (the SDK's detector keeps one per process): tells a
        # reconfigured bot's telemetry apart from its previous configuration's.
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
        # The SDK's host detector is private: these two are read the way it reads them.
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "telemetry.sdk.language": "python",
        "telemetry.distro.name": "otel-trading",
        "telemetry.distro.version": __version__,
    }
    attributes.update(settings.resource_attributes)
    attributes["service.name"] = settings.service_name
    if settings.service_version:
        attributes["service.version"] = settings.service_version
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
    # Resource.create adds telemetry.sdk.* and honours OTEL_RESOURCE_ATTRIBUTES, which our
    # explicit values (already merged above) then override.
    resource = Resource.create(attributes)
    scrubbed = redactor.scrub_if_needed(resource.attributes)
    return resource if scrubbed is None else Resource(scrubbed, resource.schema_url)
