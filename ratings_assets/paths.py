"""Where the project's files live, relative to the repository checkout."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATA_DIR = REPO_ROOT / "data"
CATALOG_CSV = DATA_DIR / "movies.csv"
SOURCE_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "ggplot2movies.csv"
