"""Settings rules: defaults, deep-partial updates, the SMS verification that the first enabling starts.

No HTTP and no boto3 here: the repository is passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from backinstock.models.settings import CAPABILITIES, Settings, flatten_patch
from backinstock.repositories.shops import Shop


class SettingsStore(Protocol):
    def require(self, shop_id: str) -> Shop: ...

    def update_settings(
        self, shop_id: str, leaves: dict[str, Any], start_sms_verification_at: str | None = None
    ) -> Shop: ...


def _unflatten(leaves: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in leaves.items():
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def settings_of(shop: Shop) -> Settings:
    """Stored leaves over the reference's defaults. Leaves of fields that no longer exist are ignored."""
    merged = _deep_merge(Settings().model_dump(), _unflatten(shop.settings_leaves))
    if shop.sms_verification:
        merged["channels"]["sms"]["verification"] = shop.sms_verification
    known = _prune(merged, Settings)
    return Settings.model_validate(known)


def _prune(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        value = data[name]
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            value = _prune(value, annotation)
        out[name] = value
    return out


def _block(settings: Settings, capability: str | None) -> BaseModel:
    return getattr(settings, capability) if capability else settings


def get_settings(store: SettingsStore, shop_id: str, capability: str | None = None) -> BaseModel:
    """The whole settings object, or one capability block (`channels`, `delivery`, ...)."""
    if capability is not None and capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability}")
    return _block(settings_of(store.require(shop_id)), capability)


def update_settings(
    store: SettingsStore,
    shop_id: str,
    patch: BaseModel,
    capability: str | None = None,
    now: datetime | None = None,
) -> BaseModel:
    """Apply a validated deep-partial patch: only the leaves it names are written. Returns the full block."""
    prefix = (capability,) if capability else ()
    leaves = {".".join(path): value for path, value in flatten_patch(patch, prefix).items()}
    enabling_sms = leaves.get("channels.sms.enabled") is True
    started = (now or datetime.now(UTC)).isoformat() if enabling_sms else None
    shop = store.update_settings(shop_id, leaves, start_sms_verification_at=started)
    return _block(settings_of(shop), capability)
