"""DAGSTER_HOME for local runs: the project's dagster.yaml in the git-ignored state folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ratings_assets import settings
from ratings_assets.paths import REPO_ROOT


def prepare_dagster_home() -> Path:
    """Copy the instance config into DAGSTER_HOME (default .local/dagster); Postgres when DAGSTER_POSTGRES_HOST is set."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(settings.STATE_DIR.value()) / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    shared = bool(os.environ.get("DAGSTER_POSTGRES_HOST"))
    shutil.copyfile(REPO_ROOT / ("docker" if shared else ".") / "dagster.yaml", home / "dagster.yaml")
    return home
