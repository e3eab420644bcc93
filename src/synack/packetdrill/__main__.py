"""`python -m synack.packetdrill FILE...`: run packetdrill scripts (see
synack.packetdrill.runner); with `--linux`, also against the live kernel (see
synack.packetdrill.linux)."""
import sys

if "--linux" in sys.argv[1:]:
    from .linux import main
else:
    from .runner import main

sys.exit(main())
