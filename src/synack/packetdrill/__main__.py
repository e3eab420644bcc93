"""`python -m synack.packetdrill FILE...`: run packetdrill scripts (see
synack.packetdrill.runner)."""
import sys

from .runner import main

sys.exit(main())
