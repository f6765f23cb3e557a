"""Worker configuration read from wrangler vars and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared_routing.signature import parse_secrets

DEFAULT_GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class Config:
    """Settings of one Worker deployment; secrets are never logged or returned."""

    environment: str = "development"
    webhook_secrets: tuple[str, ...] = ()
    api_token: str | None = None
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build the config from a mapping of variable names to string values."""

        def text(name: str) -> str | None:
            value = env.get(name)
            return value.strip() or None if value is not None else None

        origins = text("ALLOWED_ORIGINS") or ""
        return cls(
            environment=text("ENVIRONMENT") or "development",
            webhook_secrets=parse_secrets(env.get("GITHUB_WEBHOOK_SECRET", "")),
            api_token=text("API_TOKEN"),
            github_token=text("GITHUB_TOKEN"),
            github_api_url=(text("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip(
                "/"
            ),
            allowed_origins=tuple(
                normalize_origin(o) for o in origins.split(",") if o.strip()
            ),
        )


def normalize_origin(origin: str) -> str:
    """Return an origin as browsers send it: lower-case, with no trailing slash."""
    return origin.strip().rstrip("/").lower()
