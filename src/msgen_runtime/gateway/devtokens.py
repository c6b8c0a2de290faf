"""The dev issuer: tokens for local runs, signed by a key that lives only in the project folder.

The generated project carries `gateway/dev-issuer.json` (the issuer and the
audience: no secret). The key pair itself is created on first use, with a
fresh random P-256 key, in `gateway/dev-issuer/` (`private.pem`, `jwks.json`
and a `.gitignore` that keeps both out of git): it is never generated, never
in the baseline or the golden tree, never in an image, and different on every
checkout. The gateway trusts it only when DEV_ISSUER_ENABLED is true, which
`msgen up` sets and the Kubernetes overlays never do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "ALGORITHM",
    "CONFIG_FILE",
    "JWKS_FILE",
    "KEY_DIR",
    "PRIVATE_KEY_FILE",
    "DevIssuer",
    "DevIssuerError",
    "ensure_keys",
    "load_dev_issuer",
    "mint",
    "parse_ttl",
    "public_jwk",
]

CONFIG_FILE = "dev-issuer.json"
KEY_DIR = "dev-issuer"
PRIVATE_KEY_FILE = "private.pem"
JWKS_FILE = "jwks.json"
ALGORITHM = "ES256"
_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DevIssuerError(Exception):
    """The dev issuer's files are missing or unreadable."""


def parse_ttl(ttl: float | timedelta | str) -> float:
    """Seconds from 3600, timedelta(hours=1) or '1h' (units ms, s, m, h, d; seconds when none)."""
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, str):
        found = _TTL.match(ttl)
        if found is None:
            raise ValueError(f"not a duration: {ttl!r} (e.g. 90s, 15m, 1h)")
        seconds = float(found[1]) * _UNITS[found[2] or "s"]
    else:
        seconds = float(ttl)
    if seconds <= 0:
        raise ValueError("the token lifetime must be positive")
    return seconds


def _b64(value: int, size: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The P-256 public key as a JWK, its kid the RFC 7638 thumbprint."""
    numbers = key.public_numbers()
    members = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x, 32), "y": _b64(numbers.y, 32)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def ensure_keys(directory: Path) -> None:
    """Create a fresh key pair in `directory` unless it has one (safe when several processes race)."""
    if (directory / PRIVATE_KEY_FILE).is_file() and (directory / JWKS_FILE).is_file():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        private = staging / PRIVATE_KEY_FILE
        private.write_bytes(pem)
        private.chmod(0o600)
        (staging / JWKS_FILE).write_text(json.dumps({"keys": [public_jwk(key.public_key())]}, indent=2) + "\n")
        (staging / ".gitignore").write_text("# The dev issuer's key pair: local runs only, never committed.\n*\n")
        try:
            os.rename(staging, directory)  # atomic; refused when another process got there first
        except OSError:
            if not (directory / PRIVATE_KEY_FILE).is_file():
                raise DevIssuerError(f"{directory} exists but holds no dev issuer key") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class DevIssuer:
    """The dev issuer of one project: who it says it is, for whom, and its signing key."""

    issuer: str
    audience: str
    directory: Path
    private_key: ec.EllipticCurvePrivateKey

    @property
    def kid(self) -> str:
        return public_jwk(self.private_key.public_key())["kid"]

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, issuer: str, audience: str) -> DevIssuer:
        """The dev issuer whose keys are in `directory` (created when missing)."""
        path = Path(directory)
        ensure_keys(path)
        try:
            key = serialization.load_pem_private_key((path / PRIVATE_KEY_FILE).read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise DevIssuerError(f"cannot read the dev issuer key in {path}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DevIssuerError(f"{path / PRIVATE_KEY_FILE} is not an EC private key")
        return cls(issuer=issuer, audience=audience, directory=path, private_key=key)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.private_key.public_key())]}

    def mint(
        self,
        scopes: Iterable[str] = (),
        sub: str = "dev-user",
        ttl: float | timedelta | str = 3600,
        *,
        claims: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """A signed JWT for `sub` with `scopes`, valid for `ttl`."""
        issued = int(time.time() if now is None else now)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "scope": " ".join(dict.fromkeys(scopes)),
            "iat": issued,
            "nbf": issued,
            "exp": issued + max(1, round(parse_ttl(ttl))),
            "jti": str(uuid.uuid4()),
            **(claims or {}),
        }
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def known_scopes(path: str | os.PathLike[str]) -> list[str] | None:
    """The scopes the project's routes ask for, as its dev-issuer.json lists them (None: it lists none)."""
    root = Path(path)
    for config_file in (root / "gateway" / CONFIG_FILE, root / CONFIG_FILE):
        if config_file.is_file():
            try:
                listed = json.loads(config_file.read_text()).get("scopes")
            except (OSError, ValueError, AttributeError) as exc:
                raise DevIssuerError(f"{config_file} is not readable: {exc}") from None
            return [str(scope) for scope in listed] if isinstance(listed, list) else None
    raise DevIssuerError(f"{root} has no gateway/{CONFIG_FILE}: is it a project generated by msgen?")


def load_dev_issuer(path: str | os.PathLike[str], *, audience: str | None = None) -> DevIssuer:
    """The dev issuer of a generated project, given the project or its gateway/ folder."""
    root = Path(path)
    for gateway in (root / "gateway", root):
        config_file = gateway / CONFIG_FILE
        if config_file.is_file():
            break
    else:
        raise DevIssuerError(f"{root} has no gateway/{CONFIG_FILE}: is it a project generated by msgen?")
    try:
        config = json.loads(config_file.read_text())
        issuer, default_audience = str(config["issuer"]), str(config["audience"])
        keys = gateway / str(config.get("keys", KEY_DIR))
    except (OSError, ValueError, KeyError) as exc:
        raise DevIssuerError(f"{config_file} is not readable: {exc}") from None
    return DevIssuer.open(keys, issuer=issuer, audience=audience or default_audience)


def mint(
    project_dir_or_key: str | os.PathLike[str] | DevIssuer,
    scopes: Iterable[str] = (),
    sub: str = "dev-user",
    ttl: float | timedelta | str = 3600,
    *,
    audience: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A dev token for a generated project (its folder or its gateway/ folder) or a loaded DevIssuer.

    The key pair is created on first use. `ttl` is seconds, a timedelta or text
    such as '15m' or '1h'. Only a gateway started with DEV_ISSUER_ENABLED=true
    accepts the token.
    """
    if isinstance(project_dir_or_key, DevIssuer):
        issuer = replace(project_dir_or_key, audience=audience) if audience else project_dir_or_key
    else:
        issuer = load_dev_issuer(project_dir_or_key, audience=audience)
    return issuer.mint(scopes, sub, ttl, claims=claims)
