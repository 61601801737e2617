"""Ed25519 keys as Telnyx uses them: base64 32-byte seed (private), base64 public key."""

import base64
import hashlib

from nacl.signing import SigningKey


def public_key_from_seed(seed_b64: str) -> str:
    return base64.b64encode(bytes(SigningKey(base64.b64decode(seed_b64)).verify_key)).decode()


def seed_from_secret(secret: str) -> str:
    """A signing seed derived from another secret (for processes that share SECRET_KEY)."""
    return base64.b64encode(
        hashlib.sha256(b"a2p-simulator-signing:" + secret.encode()).digest()
    ).decode()


def generate_key_pair() -> tuple[str, str]:
    """(private seed, public key), both base64."""
    key = SigningKey.generate()
    return base64.b64encode(bytes(key)).decode(), base64.b64encode(bytes(key.verify_key)).decode()


def sign(*, seed_b64: str, timestamp: str, body: bytes) -> str:
    """Telnyx's scheme: Ed25519 over b"{timestamp}|{raw body}", base64 signature."""
    key = SigningKey(base64.b64decode(seed_b64))
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body).signature).decode()
