"""Who owns a voice or a job: the API key that made it. Other keys get 404 (not 403: they must not learn that
an id exists); keys in ADMIN_API_KEYS see everything. Without API_KEYS everyone is the same tenant ("") and
everything is shared, as on a single-user install.

An owner is stored as a digest of the key, never the key itself, so a copied database leaks no credentials.
"""
import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request

from common.service import presented_key


@dataclass(frozen=True)
class Tenant:
    owner: str   # "" when authentication is off
    admin: bool

    def sees(self, owner: str | None) -> bool:
        return self.admin or (owner or "") == self.owner


SHARED = Tenant(owner="", admin=True)


def owner_of_key(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def tenant_for(settings, key: str | None) -> Tenant:
    if not settings.key_list():
        return SHARED
    given = (key or "").encode()
    admin = False
    for k in settings.admin_key_list():  # every key compared: timing says nothing about which matched
        admin |= hmac.compare_digest(given, k.encode())
    return Tenant(owner=owner_of_key(key or ""), admin=admin)


def current_tenant(request: Request) -> Tenant:
    """FastAPI dependency (authentication itself has already run in the service middleware)."""
    return tenant_for(request.app.state.settings, presented_key(request))


class TenantVoices:
    """The voice library as one tenant sees it: other keys' voices do not exist. Routes get this instead of
    the VoiceStore itself (deps.Voices), so no route can forget the check."""

    def __init__(self, store, tenant: Tenant):
        self.store, self.tenant = store, tenant

    def add(self, name, embedding, source, audio_sha256=None, meta=None) -> dict:
        return self.store.add(name, embedding, source, audio_sha256, meta, owner=self.tenant.owner)

    def get(self, vid: str) -> dict | None:
        voice = self.store.get(vid)
        return voice if voice is not None and self.tenant.sees(voice["owner"]) else None

    def list(self, limit: int = 100, offset: int = 0) -> list[dict]:
        return self.store.list(limit, offset, None if self.tenant.admin else self.tenant.owner)

    def delete(self, vid: str) -> bool:
        return self.get(vid) is not None and self.store.delete(vid)

    def rename(self, vid: str, name: str) -> dict | None:
        """PATCH /v1/voices/{id}: scoped like the rest (another key's voice is not found)."""
        return self.store.rename(vid, name) if self.get(vid) is not None else None
