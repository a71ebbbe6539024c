"""`python -m bench [--smoke|--validator|--ab NAME:KEY=VALUE ...]`, from the repository root."""

import sys

from bench.cli import main

sys.exit(main())
