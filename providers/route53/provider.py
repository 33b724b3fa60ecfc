"""Amazon Route 53 through boto3.

Changes go in batches within Route 53's limits (1,000 records, an UPSERT counting twice,
and 32,000 characters of values per ChangeResourceRecordSets call); throttling is retried
with backoff; each batch is followed by GetChange until INSYNC. A rejected batch names
the record(s) the error message is about.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from migrate.errors import DnsProviderError
from providers.aws_client import aws_client, call_with_backoff
from providers.dnsbase import COMMON_TYPES, Capabilities, Change, DnsProvider, Key, ProgressCallback, RRset, relative
from providers.route53.settings import Route53Settings


class Route53Provider(DnsProvider):
    kind = "route53"
    company = "aws"
    capabilities = Capabilities(
        record_types=COMMON_TYPES | frozenset({"PTR", "NAPTR", "SPF", "DS", "HTTPS", "SVCB", "TLSA", "SSHFP"}),
        max_batch_records=1000,
        max_batch_chars=32_000,
        atomic_batches=True,
    )

    def __init__(self, name: str, settings: Route53Settings, client: Any = None) -> None:
        super().__init__(name, settings)
        self._client = client
        self._zone_ids: dict[str, str] = {}
        self.poll_interval = 1.0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client(
                "route53", self.settings, secret_label=f"dns_providers.{self.name}", max_attempts=10
            )
        return self._client

    def _call(self, method: str, **kwargs: Any) -> Any:
        return call_with_backoff(self.client, method, kwargs, attempts=8, error=DnsProviderError, who=self.name)

    def zone_id(self, zone: str) -> str:
        from botocore.exceptions import ClientError

        if self.settings.hosted_zone_id:
            return str(self.settings.hosted_zone_id)
        name = zone.rstrip(".") + "."
        if name not in self._zone_ids:
            try:
                found = self._call("list_hosted_zones_by_name", DNSName=name, MaxItems="1")
            except ClientError as exc:
                raise DnsProviderError(f"{self.name}: cannot list hosted zones: {exc}") from None
            zones = [z for z in found.get("HostedZones", []) if z["Name"] == name]
            if not zones:
                raise DnsProviderError(f"{self.name}: no hosted zone {name}")
            self._zone_ids[name] = zones[0]["Id"].split("/")[-1]
        return self._zone_ids[name]

    def ensure_zone(self, zone: str) -> None:
        try:
            self.zone_id(zone)
        except DnsProviderError:
            self._call("create_hosted_zone", Name=zone.rstrip(".") + ".", CallerReference=f"migrate-{time.time()}")
            self._zone_ids.clear()

    def records(self, zone: str) -> dict[Key, RRset]:
        from botocore.exceptions import ClientError

        zone_id = self.zone_id(zone)
        out: dict[Key, RRset] = {}
        try:
            pages = self.client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
            for page in pages:
                for item in page["ResourceRecordSets"]:
                    if "AliasTarget" in item or "SetIdentifier" in item:
                        continue  # aliases and routing policies are Route 53's own
                    if item["Type"] == "SOA":
                        continue  # Route 53 manages its SOA
                    name = item["Name"].replace("\\052", "*")
                    values = [r["Value"] for r in item.get("ResourceRecords", [])]
                    rrset = RRset.make(name, item["Type"], item.get("TTL", 300), values, zone)
                    out[rrset.key] = rrset
        except ClientError as exc:
            raise DnsProviderError(f"{self.name}: cannot read {zone}: {exc}") from None
        return out

    def batch_weight(self, change: Change) -> int:
        weight = super().batch_weight(change)
        return weight if change.action != "update" else 2 * len(change.new.values)  # type: ignore[union-attr]

    def _apply(self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None) -> None:
        from botocore.exceptions import ClientError

        zone_id = self.zone_id(zone)
        done = 0
        for batch in self.batches(changes):
            body = {"Changes": [_change(c) for c in batch]}
            try:
                info = self._call("change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch=body)
            except ClientError as exc:
                raise DnsProviderError(_rejected(self.name, zone, exc, batch, done)) from None
            self._wait_insync(info["ChangeInfo"]["Id"])
            done += len(batch)
            if progress:
                progress(f"{self.name}: change batches", done, len(changes))

    def _wait_insync(self, change_id: str) -> None:
        deadline = time.monotonic() + self.settings.change_timeout
        while True:
            status = self._call("get_change", Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            if time.monotonic() > deadline:
                raise DnsProviderError(
                    f"{self.name}: change {change_id} still {status} after {self.settings.change_timeout:.0f}s"
                )
            time.sleep(self.poll_interval)


def _rrset_body(rrset: RRset) -> dict[str, Any]:
    return {
        "Name": rrset.name,
        "Type": rrset.type,
        "TTL": rrset.ttl,
        "ResourceRecords": [{"Value": v} for v in rrset.values],
    }


def _change(change: Change) -> dict[str, Any]:
    if change.new is None:
        assert change.old is not None
        return {"Action": "DELETE", "ResourceRecordSet": _rrset_body(change.old)}
    action = "CREATE" if change.old is None else "UPSERT"
    return {"Action": action, "ResourceRecordSet": _rrset_body(change.new)}


def _rejected(provider: str, zone: str, exc: Any, batch: Sequence[Change], done: int) -> str:
    """Say which record Route 53 rejected, from the names and values its message mentions."""
    error = exc.response.get("Error", {})
    message = str(error.get("Message", exc))
    culprits = []
    for change in batch:
        rrset = change.new or change.old
        assert rrset is not None
        mentioned = rrset.name.rstrip(".") in message or any(v and v in message for v in rrset.values)
        if mentioned:
            culprits.append(f"{relative(rrset.name, zone)} {rrset.type} ({', '.join(rrset.values)})")
    which = (
        ("rejected record: " + "; ".join(culprits[:5]))
        if culprits
        else (f"the batch of {len(batch)} change(s) starting at {relative(batch[0].key[0], zone)} {batch[0].key[1]}")
    )
    return (
        f"{provider}: Route 53 rejected a batch ({error.get('Code', 'error')}): {message} — "
        f"{which}; the batch was not applied ({done} earlier change(s) were)"
    )
