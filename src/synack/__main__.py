"""`python -m synack demo` is the same as `synack demo`."""
import sys

from .cli import main

sys.exit(main())
