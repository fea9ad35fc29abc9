"""The OTel Resource: who is emitting (service, instance, environment, host, process)."""

from __future__ import annotations

import os
import platform
import socket
import sys
import uuid

from opentelemetry.sdk.resources import Resource

from otel_trading._version import __version__
from otel_trading.config._settings import Settings
from otel_trading.redaction import Redactor


def build_resource(settings: Settings, redactor: Redactor) -> Resource:
    """The process's Resource, scrubbed once here: it is repeated in every export and store file."""
    attributes: dict[str, str | int] = {
        "service.instance.id": str(uuid.uuid4()),
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": sys.platform,
        "process.pid": os.getpid(),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
        "process.executable.path": sys.executable,
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
