from __future__ import annotations

from pathlib import Path

import pytest

from sounding.config import load_settings, override_settings
from sounding.errors import ConfigError


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "sounding.toml"
    cfg.write_text(
        'protocol = "native"\n[llm]\nbase_url = "http://file/v1"\nmodel = "from-file"\n'
        "[budgets]\nmax_rounds = 7\n",
        encoding="utf-8",
    )
    env = {"SOUNDING_MODEL": "from-env", "SOUNDING_BUDGETS__MAX_ROUNDS": "9"}
    s = load_settings({"llm.base_url": "http://flag/v1"}, config_file=cfg, environ=env)
    assert s.llm.base_url == "http://flag/v1"
    assert s.llm.model == "from-env"
    assert s.budgets.max_rounds == 9
    assert s.protocol == "native"


def test_defaults_are_tongyi_sampling() -> None:
    s = load_settings(environ={})
    assert (s.sampling.temperature, s.sampling.top_p, s.sampling.presence_penalty,
            s.sampling.max_tokens) == (0.85, 0.95, 1.1, 10_000)
    assert s.budgets.max_rounds == 100
    assert s.budgets.max_context_tokens == 110 * 1024


def test_bad_values_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="must be one of tags, native"):
        load_settings({"protocol": "xml"}, environ={})
    with pytest.raises(ConfigError, match=r"budgets\.max_rounds"):
        load_settings(environ={"SOUNDING_BUDGETS__MAX_ROUNDS": "many"})
    with pytest.raises(ConfigError, match=r"unknown setting 'llm\.modle'"):
        load_settings({"llm.modle": "x"}, environ={})


def test_require_llm_names_what_to_set() -> None:
    s = load_settings(environ={})
    with pytest.raises(ConfigError, match=r"SOUNDING_BASE_URL.*SOUNDING_MODEL"):
        s.require_llm()


def test_secrets_collected_and_summary_falls_back() -> None:
    s = load_settings(environ={"SERPER_API_KEY": "k", "SOUNDING_BASE_URL": "http://x/v1",
                               "SOUNDING_MODEL": "m", "SOUNDING_SUMMARY_MODEL": "small"})
    assert s.secrets == {"SERPER_API_KEY": "k"}
    summary = s.summary_llm()
    assert (summary.base_url, summary.model) == ("http://x/v1", "small")
    assert override_settings(s, {"mode": "iter"}).mode == "iter"


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "sounding.toml"
    cfg.write_text("[llm\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=cfg, environ={})


def test_unusable_budgets_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"budgets\.max_rounds must be 0 or more"):
        load_settings({"budgets.max_rounds": -1}, environ={})
    with pytest.raises(ConfigError, match=r"budgets\.max_seconds must be positive"):
        load_settings(environ={"SOUNDING_BUDGETS__MAX_SECONDS": "0"})
    base = load_settings(environ={})
    with pytest.raises(ConfigError, match=r"max_total_tokens must be positive"):
        override_settings(base, {"budgets.max_total_tokens": 0})
    assert load_settings({"budgets.max_rounds": 0}, environ={}).budgets.max_rounds == 0


def test_heavy_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"early_stop_majority must be a share"):
        load_settings({"heavy.early_stop_majority": 1.5}, environ={})
    with pytest.raises(ConfigError, match=r"heavy\.branches must be at least 1"):
        load_settings({"heavy.branches": 0}, environ={})
    assert load_settings({"heavy.early_stop_majority": 0.5},
                         environ={}).heavy.early_stop_majority == 0.5


def test_run_options_sit_on_top_of_file_and_environment(tmp_path: Path) -> None:
    from sounding.run_options import settings_from_options

    papers = tmp_path / "papers"
    papers.mkdir()
    cfg = tmp_path / "sounding.toml"
    cfg.write_text(f'mode = "iter"\n[budgets]\nmax_rounds = 7\n[web]\nfiles_dir = "{papers}"\n',
                   encoding="utf-8")
    env = {"SOUNDING_MODE": "heavy", "SOUNDING_BUDGETS__MAX_ROUNDS": "8"}
    s = settings_from_options({"max_rounds": 9, "branch_mode": None}, config_file=cfg,
                              environ=env)
    assert (s.mode, s.budgets.max_rounds, s.web.files_dir) == ("heavy", 9, papers)
    assert s.heavy.branch_mode == "iter"  # None: not given, the default stays
    with pytest.raises(ConfigError, match="must be one of tags, native"):
        settings_from_options({"protocol": "xml"}, config_file=cfg, environ=env)
