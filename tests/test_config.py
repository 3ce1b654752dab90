"""Settings (ragkit/config.py): where values come from, and errors a user can act on.

Precedence, highest first: keyword arguments, ``RAGKIT_*`` variables, ``ragkit.toml`` (or the
file ``RAGKIT_CONFIG`` names), defaults. Every test runs in an empty working directory so no
stray ``ragkit.toml`` takes part; a bad value must fail as one :class:`ConfigError` that names
the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.config import Settings, load_settings, wordpieces_for
from ragkit.errors import ConfigError


@pytest.fixture(autouse=True)
def empty_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGKIT_CONFIG", raising=False)
    return tmp_path


def test_defaults():
    settings = load_settings()
    assert (settings.collection, settings.top_k, settings.chunk_size, settings.mode) == ("default", 5, 200, "hybrid")
    assert settings.home == Path(".ragkit")
    assert settings.api_key is None and not settings.uses_chat_model


def test_keyword_arguments_beat_the_environment_which_beats_the_file(empty_directory, monkeypatch):
    (empty_directory / "ragkit.toml").write_text('top_k = 7\nmode = "bm25"\nalpha = 0.2\n')
    monkeypatch.setenv("RAGKIT_TOP_K", "9")
    monkeypatch.setenv("RAGKIT_MODE", "dense")

    settings = load_settings(top_k=11)

    assert settings.top_k == 11  # keyword
    assert settings.mode == "dense"  # environment over file
    assert settings.alpha == 0.2  # file over default


def test_none_keyword_arguments_mean_not_given(monkeypatch):
    monkeypatch.setenv("RAGKIT_TOP_K", "9")
    assert load_settings(top_k=None).top_k == 9


def test_ragkit_config_names_another_file(empty_directory, monkeypatch):
    other = empty_directory / "conf" / "team.toml"
    other.parent.mkdir()
    other.write_text('collection = "team-docs"\n')
    monkeypatch.setenv("RAGKIT_CONFIG", str(other))
    assert load_settings().collection == "team-docs"


def test_environment_values_are_parsed_to_their_types(monkeypatch):
    monkeypatch.setenv("RAGKIT_OCR", "false")
    monkeypatch.setenv("RAGKIT_OCR_SECONDS", "12.5")
    monkeypatch.setenv("RAGKIT_HOME", "/tmp/kb-home")
    settings = load_settings()
    assert settings.ocr is False and settings.ocr_seconds == 12.5 and settings.home == Path("/tmp/kb-home")


def test_the_openai_variables_configure_the_chat_model(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = load_settings()
    assert settings.api_key.get_secret_value() == "sk-test-123"
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.uses_chat_model
    assert not load_settings(generator="extractive").uses_chat_model


def test_display_masks_secrets_and_shows_plain_values():
    shown = load_settings(api_key="sk-secret", home="/srv/kb").display()
    assert shown["api_key"] == "****"
    assert shown["home"] == "/srv/kb"
    assert "sk-secret" not in repr(shown)
    assert set(shown) == set(Settings.model_fields)
    url = "postgresql+psycopg://ragkit:s3cret@127.0.0.1:5432/ragkit"
    shown = load_settings(database_url=url, lexical_backend="postgres", lexical_url=url).display()
    assert shown["database_url"] == shown["lexical_url"] == "postgresql+psycopg://ragkit:***@127.0.0.1:5432/ragkit"


@pytest.mark.parametrize("overrides, field", [
    ({"top_k": 0}, "top_k"),
    ({"alpha": 1.5}, "alpha"),
    ({"mode": "semantic"}, "mode"),
    ({"collection": "x"}, "collection"),
    ({"collection": "bad/name"}, "collection"),
    ({"chunk_size": 8}, "chunk_size"),
    ({"no_such_setting": 1}, "no_such_setting"),
])
def test_a_bad_value_is_one_config_error_naming_the_field(overrides, field):
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    message = str(caught.value)
    assert message.startswith("invalid configuration: ") and f"{field}:" in message
    assert "(from a command-line option or keyword argument)" in message  # not "check RAGKIT_*"
    assert caught.value.exit_code == 2


def test_a_bad_environment_value_names_the_field_and_the_variable(monkeypatch):
    monkeypatch.setenv("RAGKIT_TOP_K", "many")
    with pytest.raises(ConfigError, match=r"top_k: .* \(from RAGKIT_TOP_K='many'\)$"):
        load_settings()


def test_a_bad_file_value_names_the_file(empty_directory):
    (empty_directory / "ragkit.toml").write_text('top_k = "x"\ntopk = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "top_k: Input should be a valid integer" in message and "(from ragkit.toml)" in message
    assert "topk: unknown setting (from ragkit.toml)" in message


def test_a_malformed_config_file_is_one_error_naming_the_file_and_the_place(empty_directory):
    (empty_directory / "ragkit.toml").write_text("top_k = \n")
    with pytest.raises(ConfigError, match=r"^ragkit.toml is not valid TOML: Invalid value \(at line 1, column 9\)$"):
        load_settings()


def test_ragkit_config_naming_a_missing_file_is_an_error_not_ignored(empty_directory, monkeypatch):
    monkeypatch.setenv("RAGKIT_CONFIG", str(empty_directory / "tema.toml"))
    with pytest.raises(ConfigError, match="RAGKIT_CONFIG names .*tema.toml, which is not a file"):
        load_settings()
    (empty_directory / "tema.toml").write_text("top_k = 3\n")
    assert load_settings().top_k == 3


def test_overlap_must_be_smaller_than_the_chunk():
    with pytest.raises(ConfigError, match=r"chunk_overlap \(200\) must be smaller than chunk_size \(200\)"):
        load_settings(chunk_size=200, chunk_overlap=200)
    assert load_settings(chunk_size=64, chunk_overlap=63).chunk_overlap == 63


def test_wordpieces_estimate_grows_with_the_chunk():
    assert wordpieces_for(200) == 240
    assert wordpieces_for(0) == 0


def test_the_postgres_lexical_backend_takes_its_url_from_lexical_url_or_a_postgres_database_url():
    url = "postgresql+psycopg://ragkit@db.internal/ragkit"
    assert load_settings(lexical_backend="postgres", lexical_url=url).lexical_database_url == url
    assert load_settings(lexical_backend="postgres", database_url=url).lexical_database_url == url
    assert load_settings(database_url=url).lexical_database_url is None  # tantivy: no database needed


@pytest.mark.parametrize("overrides, says", [
    ({"lexical_backend": "postgres"}, "set lexical_url"),
    ({"lexical_backend": "postgres", "database_url": "sqlite:///state.sqlite"}, "set lexical_url"),
    ({"lexical_backend": "postgres", "lexical_url": "mysql://db/ragkit"}, "must be a PostgreSQL URL"),
    ({"lexical_url": "postgresql://db/ragkit"}, "set lexical_backend = 'postgres'"),
])
def test_a_postgres_lexical_backend_without_a_postgres_url_is_refused(overrides, says):
    with pytest.raises(ConfigError, match="lexical_url") as raised:
        load_settings(**overrides)
    assert says in str(raised.value)
