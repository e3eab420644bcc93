"""`synack explore`: TCP in the browser, driven by the real engine.

A local web server (bound to 127.0.0.1 only) serves a page where a learner
chooses or composes a run, steps through it on the ladder diagram with both
TCBs and state machines beside it, and breaks it: drops, delays, duplicates
or corrupts a segment, or injects a RST or SYN, and the engine runs it again.
See docs/explore.md. Needs the `explore` extra (Starlette and uvicorn).

    from synack.explore.runs import normalize, execute
    run = execute(normalize({"scenario": "lost-final-ack", "edits": ["drop:3"]}))
"""
