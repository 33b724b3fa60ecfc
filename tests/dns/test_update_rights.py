"""A TSIG key the server lets read the zone but not update it, on real BIND: one line that
says so (naming the server and the key, never its secret), nothing changed, the failure in
the journal."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.dns.journal import Journal
from providers.local.servers.bind import BindServer
from providers.local.servers.dns import TsigSpec, ZoneSeed, new_tsig_secret
from tests.conftest import run_cli
from tests.dns.conftest import EXTRA, NEW, OLD, ZONE, Cluster
from tests.dns.test_swing import served
from tests.engine.helpers import free_loopback_address

pytestmark = pytest.mark.slow


class ReadOnlyKeyBind(BindServer):
    """BIND whose zone allows transfers with the key but updates to nobody."""

    def prepare(self) -> None:
        super().prepare()
        conf = self.directory / "named.conf"
        allowed = f'allow-update {{ key "{self.tsig.name}"; }}'
        assert allowed in conf.read_text()
        conf.write_text(conf.read_text().replace(allowed, "allow-update { none; }"))


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("dns-ro")
    tsig = TsigSpec("migrate-reader", new_tsig_secret())
    address = free_loopback_address()
    cluster = Cluster(directory, tsig, {})
    cluster.secret_file.write_text(tsig.secret + "\n")
    server = ReadOnlyKeyBind(
        directory=directory / "bind", zone=ZoneSeed(ZONE, [("ns1", address)], extra=EXTRA), tsig=tsig, address=address
    )
    cluster.servers["bind"] = server.start()
    try:
        yield cluster
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_key_without_update_rights_is_named_and_changes_nothing(read_only: Cluster, tmp_path: Path) -> None:
    spec_file = read_only.write_spec(tmp_path / "migrate.yaml")
    home = tmp_path / "home"
    result = run_cli("dns", "swing", "-f", str(spec_file), "--address", NEW, env={"MIGRATE_HOME": str(home)})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and read_only.tsig.secret not in result.stderr + result.stdout
    said = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    assert f"bind: FAILED: update of {ZONE} at {read_only.servers['bind'].address}:53: REFUSED" in said
    assert "the key 'migrate-reader' lacks update rights there" in said
    assert served(read_only, "bind", f"www.{ZONE}") == [OLD]
    record = Journal(ZONE, home).last()
    assert record is not None and set(record.failed) == {"bind"} and not record.applied
    assert read_only.tsig.secret not in Journal(ZONE, home).path.read_text()
