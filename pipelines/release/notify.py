"""Tell running prediction services about a new champion (owner: ML engineer).

Every service polls the registry's `champion` alias anyway (RELAY_RELOAD_INTERVAL_S); this makes the switch
immediate after a promotion or a rollback. The alias in the registry stays the truth: a service that cannot
be reached is reported, never fatal, and picks the champion up on its next poll.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Notice:
    url: str
    serving: str | None  # the version the service reports after the reload
    error: str | None

    def describe(self) -> str:
        if self.error:
            return f"{self.url}: not switched now ({self.error}); it will on its next poll"
        return f"{self.url}: serving version {self.serving}"


def notify_services(urls: list[str], *, api_key: str | None = None, timeout_s: float = 60.0) -> list[Notice]:
    """POST `<url>/v1/model/reload` to each service; the call returns once the service has loaded the model."""
    headers = {"X-API-Key": api_key} if api_key else {}
    notices = []
    for url in urls:
        endpoint = f"{url.rstrip('/')}/v1/model/reload"
        try:
            r = httpx.post(endpoint, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            notices.append(Notice(url, None, f"unreachable: {exc}"))
            continue
        if r.status_code != 200:
            notices.append(Notice(url, None, f"HTTP {r.status_code} from {endpoint}: {r.text[:200]}"))
            continue
        body = r.json()
        notices.append(Notice(url, body.get("version"), body.get("last_reload_error")))
    return notices
