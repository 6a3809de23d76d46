"""The OpenAPI 3.1 description of the ops service's HTTP interface, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_PERIOD = {"name": "period", "in": "query", "required": False,
           "schema": {"type": "string", "enum": ["1h", "24h", "7d", "30d", "90d"]}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "The integration's name in the integrations file."}
_ALERT = {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_ERROR = {"description": "The reason, as {\"error\": text}.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}


def _read(summary: str, *parameters: dict[str, Any], tag: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "tags": [tag], "parameters": list(parameters),
                    "responses": {"200": {"description": "OK", **_OBJECT}, "401": _ERROR, "404": _ERROR}}}


def _write(method: str, summary: str, *parameters: dict[str, Any], tag: str, body: dict[str, Any] | None = None,
           ok: str = "200") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "tags": [tag], "parameters": list(parameters), "security": [{"bearer": []}],
        "responses": {ok: {"description": "Done", **_OBJECT}, "401": _ERROR, "404": _ERROR, "409": _ERROR,
                      "422": _ERROR,
                      "503": {"description": "Not available (token not configured, or no alert tables)",
                              "content": _ERROR["content"]}},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {method: operation}


def openapi_document() -> dict[str, Any]:
    silence = {"type": "object", "required": ["matchers", "comment"], "properties": {
        "matchers": {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "Alert labels that must all be equal, e.g. {\"integration\": \"stripe\"}."},
        "duration_minutes": {"type": "number", "minimum": 1, "maximum": 43200, "default": 60},
        "created_by": {"type": "string"}, "comment": {"type": "string"}}}
    acknowledge = {"type": "object", "properties": {"by": {"type": "string"}, "comment": {"type": "string"}}}
    paths: dict[str, Any] = {
        "/api/v1/integrations": _read("Every integration's health now, with its 90-day bar", tag="integrations"),
        "/api/v1/integrations/{name}": _read("One integration's metrics over a period", _NAME, _PERIOD,
                                             tag="integrations"),
        "/api/v1/integrations/{name}/probe": _write("post", "Probe one integration now (reported, not recorded; "
                                                    "a push integration's pings are judged)", _NAME,
                                                    tag="integrations"),
        "/api/v1/performance": _read("Availability against the SLA, latency, calls and cost per integration over a "
                                     "period", _PERIOD, tag="integrations"),
        "/api/v1/incidents": _read("Incidents providers declare now (inbound status page webhooks)",
                                   tag="integrations"),
        "/api/v1/registrations": _read("D&B registrations and their last landing", tag="dnb"),
        "/api/v1/alerts": _read("Active alerts", tag="alerts"),
        "/api/v1/alerts/statistics": _read("Alert statistics and the noisiest rules over a period", _PERIOD,
                                           tag="alerts"),
        "/api/v1/alerts/{alert_id}": _read("One alert", _ALERT, tag="alerts"),
        "/api/v1/alerts/{alert_id}/timeline": _read("One alert's timeline", _ALERT, tag="alerts"),
        "/api/v1/alerts/{alert_id}/acknowledge": _write("post", "Acknowledge an alert through the engine (409: "
                                                        "resolved, or pending: not fired yet)", _ALERT, tag="alerts",
                                                        body=acknowledge),
        "/api/v1/silences": {**_read("Active silences", tag="alerts"),
                             **_write("post", "Create a silence", tag="alerts", body=silence, ok="201")},
        "/api/v1/silences/{silence_id}": _write("delete", "Expire a silence now", {
            "name": "silence_id", "in": "path", "required": True, "schema": {"type": "integer"}}, tag="alerts"),
        "/webhooks/{source}": {"post": {
            "summary": "Inbound webhook: a provider's status page (Atlassian Statuspage) or a generic JSON source",
            "tags": ["webhooks"],
            "parameters": [{"name": "source", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Applied, or a replay of an update already applied", **_OBJECT},
                          "202": {"description": "Valid, but mapped to no integration", **_OBJECT},
                          "400": _ERROR, "401": _ERROR, "404": _ERROR, "413": _ERROR, "422": _ERROR,
                          "503": _ERROR}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["operations"],
                             "responses": {"200": {"description": "Text exposition format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/health/live": _read("Liveness", tag="operations"),
        "/health/ready": {"get": {"summary": "Readiness: database, sensors, outbox", "tags": ["operations"],
                                  "responses": {"200": {"description": "Ready", **_OBJECT},
                                                "503": {"description": "Not ready: says which check failed",
                                                        **_OBJECT}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "monitoring_pipeline ops service", "version": "1",
                 "description": "Health of integrations and D&B landing, alerts, inbound webhooks. Reads are public "
                                "or need the service token (ops file: service.access); writes always need it."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}}},
        },
    }
