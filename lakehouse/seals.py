"""Audit seals: signed checkpoints of the audit chain, kept outside the audit table.

A seal is one file, `seal-000001.json`, holding a checkpoint's canonical JSON and a base64 Ed25519
signature over exactly those bytes. Seals are only added: each file is created exclusively and made
read-only. The public key sits beside them (`audit_ed25519.pub`), so anyone can check them without
the private key, which lives at MLGOV_AUDIT_KEY: per user and outside MLGOV_HOME by default, so
someone who can rewrite the lakehouse cannot sign a seal for what they wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.audit.canonical import canonical_json
from governance.audit.chain import AuditRecord
from governance.audit.seals import Checkpoint, SealReading, checkpoint_payload, next_checkpoint, parse_checkpoint
from governance.errors import ConflictError, InputError, MlgovError, PolicyViolation

PUBLIC_KEY_NAME = "audit_ed25519.pub"
_SEAL_FILE = re.compile(r"seal-(\d{6,})\.json")
_MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class AuditKey:
    """The audit key as an auditor pins it: where the private half is, and the public half."""

    path: Path
    public_pem: str
    fingerprint: str


@dataclass(frozen=True)
class Seal:
    """A stored seal: its file name and the checkpoint it signs."""

    name: str
    checkpoint: Checkpoint


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, the form to pin out of band."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


class SealStore:
    """The seals of one audit trail in `directory`, signed with the private key at `key_path`."""

    def __init__(self, directory: Path, *, key_path: Path | None) -> None:
        self._directory = directory
        self._key_path = key_path

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def public_key_path(self) -> Path:
        return self._directory / PUBLIC_KEY_NAME

    # --- the key --------------------------------------------------------------------------------

    def create_key(self) -> AuditKey:
        """Make a new private key at the key path (mode 0600) and publish its public half beside the seals.

        Refuses to replace an existing key, and to publish a new key beside seals signed by another.
        """
        path = self._required_key_path()
        if path.exists():
            raise InputError(f"an audit key already exists at {path}: keep using it, or move it away to make a new one")
        published = self._published_key()
        if published is not None and self._seal_files():
            raise InputError(
                f"the seals in {self._directory} were signed with key {fingerprint(published)}: point "
                "MLGOV_AUDIT_SEALS at an empty folder to start sealing with a new key"
            )
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InputError(f"an audit key already exists at {path}: keep using it, or move it away") from None
        try:
            os.fchmod(handle, 0o600)  # the mode given to open() is narrowed by umask, never widened: be exact
            os.write(handle, pem)
        finally:
            os.close(handle)
        self._publish(key.public_key(), replace=True)  # no seal was signed with a key published before
        return self._describe(key.public_key())

    def published_fingerprint(self) -> str | None:
        """The fingerprint of the public key beside the seals, or None if there is none (or it is unreadable)."""
        try:
            published = self._published_key()
        except MlgovError:
            return None  # reading the seals reports it, seal by seal
        return fingerprint(published) if published is not None else None

    def _required_key_path(self) -> Path:
        if self._key_path is None:
            raise InputError("no audit key is configured: set MLGOV_AUDIT_KEY to the path of its PEM file")
        return self._key_path

    def _private_key(self) -> Ed25519PrivateKey:
        path = self._required_key_path()
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise InputError(f"no audit key at {path}: run mlgov audit keygen") from None
        except OSError as error:
            raise InputError(f"audit key {path} cannot be read: {error.strerror}") from None
        if mode & 0o077:
            raise InputError(f"audit key {path} is open to other users: run chmod 600 {path}")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InputError(
                f"{path} is not an unencrypted PEM private key: move it away and run mlgov audit keygen"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"{path} holds a {type(key).__name__}, expected an Ed25519 private key")
        return key

    def _local_public_key(self) -> Ed25519PublicKey | None:
        """The public half of the private key, when this user has it; verification works without it."""
        try:
            return self._private_key().public_key()
        except InputError:
            return None

    def _published_key(self) -> Ed25519PublicKey | None:
        try:
            data = self.public_key_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise MlgovError(f"public audit key {self.public_key_path} cannot be read: {error.strerror}") from None
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise MlgovError(f"{self.public_key_path} is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise MlgovError(f"{self.public_key_path} holds a {type(key).__name__}, expected an Ed25519 public key")
        return key

    def _publish(self, public_key: Ed25519PublicKey, *, replace: bool = False) -> None:
        """Put the public key beside the seals; unless `replace`, refuse if another key is already there."""
        published = None if replace else self._published_key()
        if published is not None:
            if _raw(published) == _raw(public_key):
                return
            raise InputError(
                f"the public key at {self.public_key_path} ({fingerprint(published)}) is not the public half of "
                f"the audit key at {self._key_path} ({fingerprint(public_key)}): use the key that made these seals"
            )
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._directory.mkdir(parents=True, exist_ok=True)
        temporary = self._directory / f".{PUBLIC_KEY_NAME}.{os.getpid()}.tmp"
        temporary.write_bytes(pem)
        os.replace(temporary, self.public_key_path)

    def _describe(self, public_key: Ed25519PublicKey) -> AuditKey:
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return AuditKey(
            path=self._required_key_path(), public_pem=pem.decode("ascii"), fingerprint=fingerprint(public_key)
        )

    # --- the seals ------------------------------------------------------------------------------

    def read(self) -> list[SealReading]:
        """Every seal in storage order, each checked against the published public key.

        When this user holds the private key and the published public key is not its public half,
        no seal is trusted: someone may have replaced the public key and re-signed the seals.
        """
        files = self._seal_files()
        if not files:
            return []
        try:
            published = self._published_key()
        except MlgovError as error:
            return [
                SealReading(name=path.name, checkpoint=None, defect=f"cannot be checked: {error}") for path in files
            ]
        local = self._local_public_key()
        distrust: str | None = None
        if published is None:
            distrust = f"cannot be checked: there is no public key at {self.public_key_path}"
        elif local is not None and _raw(local) != _raw(published):
            distrust = (
                f"cannot be trusted: the public key at {self.public_key_path} ({fingerprint(published)}) "
                f"is not the public half of the audit key at {self._key_path}"
            )
        return [self._read_one(path, published=published, distrust=distrust) for path in files]

    def add(self, *, tip: AuditRecord, delta_version: int, table_id: str, at: datetime) -> Seal:
        """Sign and store a seal of `tip`, read at `delta_version` of table `table_id`, after the latest seal.

        If another seal made meanwhile already covers as much, that seal is returned and none is added.
        The caller verifies the trail first: a seal vouches for everything up to `tip`.
        """
        key = self._private_key()
        self._publish(key.public_key())
        for _ in range(_MAX_ATTEMPTS):
            readings = self.read()
            latest = readings[-1] if readings else None
            if latest is not None and (latest.checkpoint is None or latest.defect is not None):
                raise PolicyViolation(f"seal {latest.name} {latest.defect or 'cannot be read'}: not sealing after it")
            previous = latest.checkpoint if latest else None
            if latest and previous and (previous.seq > tip.seq or previous.delta_version > delta_version):
                return Seal(name=latest.name, checkpoint=previous)
            checkpoint = next_checkpoint(
                previous=previous, tip=tip, delta_version=delta_version, table_id=table_id, at=at
            )
            document = {
                "checkpoint": checkpoint.fields(),
                "signature": base64.b64encode(key.sign(checkpoint_payload(checkpoint))).decode("ascii"),
            }
            name = f"seal-{checkpoint.index:06d}.json"
            try:
                handle = os.open(self._directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            except FileExistsError:
                continue  # another sealer took this number: chain onto its seal instead
            try:
                os.write(handle, (canonical_json(document) + "\n").encode("utf-8"))
            finally:
                os.close(handle)
            return Seal(name=name, checkpoint=checkpoint)
        raise ConflictError(f"could not add a seal in {self._directory}: other sealers kept adding one first")

    def _seal_files(self) -> list[Path]:
        if not self._directory.is_dir():
            return []
        numbered = []
        for entry in os.scandir(self._directory):
            match = _SEAL_FILE.fullmatch(entry.name)
            if match:
                numbered.append((int(match.group(1)), entry.name))
        return [self._directory / name for _, name in sorted(numbered)]

    def _read_one(self, path: Path, *, published: Ed25519PublicKey | None, distrust: str | None) -> SealReading:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return SealReading(name=path.name, checkpoint=None, defect="cannot be read as JSON")
        if not isinstance(document, dict) or set(document) != {"checkpoint", "signature"}:
            return SealReading(
                name=path.name, checkpoint=None, defect="is not a seal: expected a checkpoint and a signature"
            )
        fields, signature = document["checkpoint"], document["signature"]
        try:
            if not isinstance(fields, dict):
                raise ValueError("the checkpoint is not an object")
            checkpoint = parse_checkpoint(fields)
        except ValueError as error:
            return SealReading(name=path.name, checkpoint=None, defect=f"is not a valid seal: {error}")
        if distrust is not None or published is None:
            return SealReading(name=path.name, checkpoint=checkpoint, defect=distrust)
        try:
            published.verify(base64.b64decode(str(signature), validate=True), checkpoint_payload(checkpoint))
        except (InvalidSignature, binascii.Error, ValueError):
            return SealReading(
                name=path.name,
                checkpoint=checkpoint,
                defect="has a signature that does not match: it was edited or forged",
            )
        return SealReading(name=path.name, checkpoint=checkpoint)


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
