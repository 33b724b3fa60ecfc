"""Terminating a vps target over SSH: what a host pulled off the network leaves behind.

On every host of the target, one script stops every container labelled with the service
(``migrate.service=<slug>``, which the vps stack puts on each of them) at once: ``docker
stop -t 0`` (SIGKILL straight away), so their published ports and the front's port close
with them. Stopped, not removed: volumes and files stay, and Docker's ``unless-stopped``
policy keeps them down across a daemon restart. No Pulumi call; ``migrate up`` sees the
probes fail and starts them again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from providers.hosting import Cut, Termination
from providers.naming import slug
from providers.vps.ssh import Endpoint, Session, SshError

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.vps.settings import SshHost


def stop_script(service: str) -> str:
    """Names the stopped containers on stdout, one a line."""
    return (
        f"ids=$(docker ps -q --filter label=migrate.service={service})\n"
        '[ -z "$ids" ] && exit 0\n'
        "docker stop -t 0 $ids >/dev/null\n"
        "docker inspect -f '{{.Name}}' $ids | sed 's,^/,,'\n"
    )


def terminate(spec: ServiceSpec, target: str, settings: Any) -> Termination:
    service = slug(spec.service.name, 40)
    cut = Cut(target, settings.hosts[0].address)

    def stop(index_host: tuple[int, SshHost]) -> tuple[str, list[str]]:
        index, host = index_host
        where = f"targets.{target}.hosts[{index}]"
        if host.private_key is None:
            raise MigrateError(f"{where}.private_key: give {{file: PATH}} or {{env: NAME}}")
        endpoint = Endpoint(
            host.address, host.port, host.user, host.private_key.resolve(f"{where}.private_key"), host.host_key
        )
        try:
            with Session(endpoint) as session:
                out = session.check(stop_script(service), "terminate").stdout
        except SshError as exc:
            raise MigrateError(f"{where}: {exc}") from None
        return host.address, out.split()

    with ThreadPoolExecutor(max_workers=max(1, len(settings.hosts))) as pool:
        results = list(pool.map(stop, enumerate(settings.hosts)))
    cut.stopped.update({f"{address}/{name}": "stopped" for address, names in results for name in names})
    return cut.done(f"docker stop -t 0 of every container labelled migrate.service={service} on {len(results)} host(s)")
