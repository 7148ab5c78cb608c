"""Shared fixtures: the asyncio loops whirlwind is tested on, a TLS certificate."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from whirlwind.ioloop import IOLoop

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _whirlwind_loop() -> asyncio.AbstractEventLoop:
    from whirlwind.loop import new_event_loop

    return new_event_loop()


def _uvloop_loop() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


LOOP_FACTORIES: dict[str, LoopFactory] = {
    "whirlwind": _whirlwind_loop,
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop_loop,
}


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """Each asyncio loop implementation whirlwind must run on."""
    return LOOP_FACTORIES[request.param]


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def run(loop_factory: LoopFactory) -> Runner:
    """Run a coroutine to completion (4 s at most) on a fresh loop of each kind."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = loop_factory()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 4))
        finally:
            loop.close()

    return runner


@pytest.fixture
def aio_loop(loop_factory: LoopFactory) -> Iterator[asyncio.AbstractEventLoop]:
    """A new asyncio loop of each kind, set as current and closed afterwards."""
    loop = loop_factory()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        if not loop.is_closed():
            loop.close()
        _forget_closed_loops()


@pytest.fixture
def io_loop(aio_loop: asyncio.AbstractEventLoop) -> Iterator[IOLoop]:
    """The current `.IOLoop` of ``aio_loop``, closed afterwards."""
    from whirlwind.ioloop import IOLoop

    loop = IOLoop.current()
    assert loop is not None
    yield loop
    loop.close()


def _forget_closed_loops() -> None:
    ioloop = sys.modules.get("whirlwind.ioloop")
    if ioloop is None:
        return
    registry = ioloop.IOLoop._ioloop_for_asyncio
    for loop in [lp for lp in registry if lp.is_closed()]:
        del registry[loop]


def _make_cert_cryptography(certfile: Path, keyfile: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """``(certfile, keyfile)``: a self-signed EC certificate for localhost and
    127.0.0.1, made once per test session with the ``openssl`` command (or the
    ``cryptography`` package where the command is missing)."""
    d = tmp_path_factory.mktemp("tls")
    certfile, keyfile = d / "cert.pem", d / "key.pem"
    if shutil.which("openssl") is not None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", str(keyfile), "-out", str(certfile),
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
    else:  # pragma: no cover
        try:
            _make_cert_cryptography(certfile, keyfile)
        except ImportError:
            pytest.skip("neither the openssl command nor cryptography is available")
    return str(certfile), str(keyfile)
