"""The watch config file: which feeds, sitemaps and folders `newsbot watch` follows, and how often.

TOML, read with the standard library; every key is checked (an unknown one is an error naming it).
Example (README, "Following feeds"):

    interval_s = 300          # how often each source is polled (per source: interval_s there)
    batch_articles = 32       # pages fetched and then indexed together, under the writer lock
    fetch_workers = 4         # pages fetched at once

    [[feeds]]
    url = "https://www.tagesschau.de/xml/rss2/"

    [[sitemaps]]
    url = "https://www.example.org/news-sitemap.xml"

    [[folders]]
    path = "incoming"         # relative to the config file
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from retrieval.errors import IngestError
from retrieval.fetch import is_web_url


class WatchConfigError(IngestError):
    """The watch config file is missing or wrong; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlSource(_Strict):
    url: str = Field(description="http(s) address of the feed or sitemap.")
    interval_s: float | None = Field(default=None, ge=10, le=86_400, description="Poll interval of this source.")

    @field_validator("url")
    @classmethod
    def _web(cls, value: str) -> str:
        if not is_web_url(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.strip()


class FolderSource(_Strict):
    path: Path = Field(description="Folder of article files (.txt, .md, .html), relative to the config file.")
    interval_s: float | None = Field(default=None, ge=1, le=86_400, description="Poll interval of this folder.")


class WatchConfig(_Strict):
    """What to follow; the defaults suit a handful of news feeds."""

    interval_s: float = Field(default=300, ge=1, le=86_400, description="Seconds between polls of a source.")
    batch_articles: int = Field(default=32, ge=1, le=1000, description="New articles indexed together (one generation).")
    fetch_workers: int = Field(default=4, ge=1, le=32, description="Pages fetched at the same time.")
    max_new_per_poll: int = Field(
        default=200, ge=1, le=50_000, description="Most new pages taken from one source per poll (a first sitemap can list thousands)."
    )
    retries: int = Field(default=4, ge=0, le=20, description="Tries after a page failed for a passing cause (timeout, 5xx).")
    backoff_max_s: float = Field(default=3600, ge=10, le=86_400, description="Longest wait before a failing source is tried again.")
    feeds: list[UrlSource] = Field(default_factory=list)
    sitemaps: list[UrlSource] = Field(default_factory=list)
    folders: list[FolderSource] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.feeds or self.sitemaps or self.folders)


def load_watch_config(path: Path) -> WatchConfig:
    """Read and check `path`; relative folder paths are taken from the config file's folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise WatchConfigError(f"{path}: no such watch config; write one (README, 'Following feeds')") from e
    except (OSError, UnicodeDecodeError) as e:
        raise WatchConfigError(f"{path}: cannot be read ({e})") from e
    except tomllib.TOMLDecodeError as e:
        raise WatchConfigError(f"{path}: not valid TOML ({e})") from e
    try:
        config = WatchConfig.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise WatchConfigError(f"{path}: {problems}") from e
    folders = [
        f.model_copy(update={"path": f.path if f.path.is_absolute() else (path.parent / f.path)}) for f in config.folders
    ]
    config = config.model_copy(update={"folders": folders})
    if config.empty:
        raise WatchConfigError(f"{path}: names no [[feeds]], [[sitemaps]] or [[folders]]; nothing to watch")
    return config
