"""Amazon Route 53 Domains through boto3: read and replace a domain's nameservers.

``UpdateDomainNameservers`` starts an operation; ``GetOperationDetail`` is polled until it is
SUCCESSFUL (or FAILED / ERROR). Nameservers inside the domain carry glue addresses (at most
one IPv4 and one IPv6 each, as the API allows). The API lives in us-east-1 only.
"""

from __future__ import annotations

import ipaddress
import re
import time
from typing import Any

from migrate.errors import RegistrarError
from providers.aws_client import aws_client, call_with_backoff
from providers.registrarbase import Nameserver, Registrar, RegistrarCapabilities, StatusCallback, in_zone
from providers.route53domains.settings import Route53DomainsSettings

AUTH = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "AccessDeniedException",
    "AccessDenied",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
DONE, BAD = "SUCCESSFUL", {"FAILED", "ERROR"}


class Route53DomainsRegistrar(Registrar):
    kind = "route53domains"
    company = "aws"
    capabilities = RegistrarCapabilities(glue=True, min_nameservers=1, max_nameservers=6, asynchronous=True)

    def __init__(self, name: str, settings: Route53DomainsSettings, client: Any = None) -> None:
        super().__init__(name, settings)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client(
                "route53domains", self.settings, secret_label=f"registrars.{self.name}", max_attempts=5
            )
        return self._client

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        who = f"registrar {self.name}"
        try:
            return call_with_backoff(self.client, method, kwargs, attempts=6, error=RegistrarError, who=who)
        except ClientError as exc:
            code, message, status = _error(exc)
            hint = " (check the registrar's AWS credentials)" if code in AUTH or status in (401, 403) else ""
            raise RegistrarError(f"{who}: {method}: {code}: {message}{hint}") from None

    def nameservers(self, domain: str) -> list[Nameserver]:
        detail = self._call("get_domain_detail", DomainName=domain.rstrip("."))
        return sorted(Nameserver.make(n["Name"], n.get("GlueIps", ())) for n in detail.get("Nameservers", []))

    def set_nameservers(
        self, domain: str, nameservers: list[Nameserver], status: StatusCallback | None = None
    ) -> str | None:
        body = [_body(ns, domain) for ns in nameservers]
        started = self._call("update_domain_nameservers", DomainName=domain.rstrip("."), Nameservers=body)
        operation = str(started["OperationId"])
        self._wait(operation, status)
        return operation

    def _wait(self, operation: str, status: StatusCallback | None) -> None:
        deadline = time.monotonic() + self.settings.operation_timeout
        while True:
            detail = self._call("get_operation_detail", OperationId=operation)
            state = detail.get("Status", "?")
            if state == DONE:
                return
            if state in BAD:
                raise RegistrarError(
                    f"registrar {self.name}: operation {operation} {state}: {detail.get('Message', 'no message')}"
                )
            if status:
                status(f"{self.name}: operation {operation} {state}")
            if time.monotonic() > deadline:
                raise RegistrarError(
                    f"registrar {self.name}: operation {operation} still {state} after "
                    f"{self.settings.operation_timeout:.0f}s; check it with `aws route53domains "
                    f"get-operation-detail --operation-id {operation}`",
                    maybe_applied=True,
                )
            time.sleep(self.settings.poll_interval)


def _error(exc: Any) -> tuple[str, str, int | None]:
    """(code, one-line message, HTTP status) of a ClientError.

    An XML error body on this JSON API (moto answers auth failures so) is unpacked too.
    """
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), " ".join(str(error.get("Message", exc)).split())
    if message.startswith("<?xml"):
        found = re.search(r"<Code>(.*?)</Code>.*?<Message>(.*?)</Message>", message)
        if found:
            code, message = found.group(1), found.group(2)
    return code, message, exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _body(ns: Nameserver, domain: str) -> dict[str, Any]:
    """One entry of ``Nameservers``: glue only for in-domain names, one address per family."""
    entry: dict[str, Any] = {"Name": ns.name.rstrip(".")}
    if in_zone(ns.name, domain) and ns.glue:
        v4 = [a for a in ns.glue if ipaddress.ip_address(a).version == 4][:1]
        v6 = [a for a in ns.glue if ipaddress.ip_address(a).version == 6][:1]
        entry["GlueIps"] = v4 + v6
    return entry
