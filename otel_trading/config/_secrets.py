"""The redactor of a configuration, primed with every secret value the configuration holds.

Besides ``configure(secrets=[...])``, the OTLP header values are credentials (an
``Authorization`` header, a vendor's API-key header): the exporters send them to the
collector as headers, and they must never appear in what is exported or printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Final

from otel_trading.config._settings import SIGNALS, ConfigurationError, Settings, env, parse_key_values
from otel_trading.redaction import Redactor

# A header value this long is taken for a credential whatever its header is called
# (x-honeycomb-team carries an API key); shorter ones only under a secret-looking name, so
# a tenant header such as X-Scope-OrgID: prod does not redact "prod" everywhere.
_CREDENTIAL_LENGTH: Final = 16
_HEADER_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_HEADERS", *(f"OTEL_EXPORTER_OTLP_{s.upper()}_HEADERS" for s in SIGNALS))


def _header_credentials(headers: Mapping[str, str], redactor: Redactor) -> list[str]:
    values: list[str] = []
    for name, value in headers.items():
        if not isinstance(value, str) or not (redactor.is_secret_key(name) or len(value) >= _CREDENTIAL_LENGTH):
            continue
        values.append(value)
        # "Bearer <token>", "Basic <base64>": the credential alone may show up elsewhere.
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            values.append(credential.strip())
    return values


def otlp_header_secrets(settings: Settings, redactor: Redactor, environ: Mapping[str, str]) -> list[str]:
    """The credential values among the OTLP headers given as arguments or in the environment."""
    values: list[str] = []
    for otlp in settings.otlp.values():
        if otlp.headers:
            values += _header_credentials(otlp.headers, redactor)
    for variable in _HEADER_VARIABLES:
        raw = env(variable, environ)
        if raw is None:
            continue
        try:
            values += _header_credentials(parse_key_values(raw, variable), redactor)
        except ConfigurationError:
            continue  # reported where the variable is validated; nothing here to register
    return values


def build_redactor(
    settings: Settings, inherited: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> Redactor:
    """The configuration's redactor; ``inherited`` are the values learnt at run time before it
    (exchange credentials, alert channel tokens), which stay secret across a reconfiguration."""
    redactor = Redactor(settings.redact_key_patterns, settings.redact_value_patterns)
    redactor.add_secret_values([
        *settings.secrets,
        *otlp_header_secrets(settings, redactor, os.environ if environ is None else environ),
        *inherited,
    ])
    return redactor
