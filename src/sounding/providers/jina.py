"""Jina Reader (r.jina.ai): a hosted fetcher that returns pages as Markdown."""

from __future__ import annotations

from ..errors import ProviderError
from ._http import HTTPProvider, check_response, json_body
from .base import Page
from .urlpolicy import check_scheme

__all__ = ["JinaReader"]


class JinaReader(HTTPProvider):
    """GET {base}/{url} with Accept: application/json; the key (Bearer) is optional."""

    name = "jina"
    key_variable = "JINA_API_KEY"

    async def fetch(self, url: str, *, stats: object = None) -> Page | None:
        # Jina fetches from its own network, so only the scheme rule applies here.
        check_scheme(url)
        headers = {"Accept": "application/json", "X-Retain-Images": "none"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        response = await self._send("GET", "/" + url, check=False, headers=headers)
        if response.status_code in (404, 410):
            return None
        if response.status_code == 422:
            raise ProviderError(f"jina could not read {url}", provider=self.name, status=422)
        check_response(response, self.name, self.key_variable)
        data = json_body(response, self.name).get("data")
        if not isinstance(data, dict):
            return None
        return Page(url=str(data.get("url") or url), text=str(data.get("content") or ""),
                    title=str(data.get("title") or ""), content_type="text/markdown")
