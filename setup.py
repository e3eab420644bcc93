"""Optional mypyc build. pyproject.toml holds the metadata; this file only
adds compiled extension modules when asked to:

    pip install -e .                                        # pure Python, as always
    SYNACK_MYPYC=1 pip install --no-build-isolation -e .    # the hot modules compiled
    SYNACK_MYPYC=1 python setup.py build_ext --inplace      # the same, in the source tree

The compiled build needs mypy (which provides mypyc) and a C compiler in the
environment that runs the build, hence --no-build-isolation. Each compiled
module keeps its .py source beside it, and the .so files (ignored by git) take
precedence while they exist: `find src -name '*.so' -delete` brings back the
pure package.
"""
import os

from setuptools import setup


def _modules() -> list[str]:
    """COMPILED_MODULES of src/synack/_mypyc.py, read without importing synack."""
    import ast
    tree = ast.parse(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "src", "synack", "_mypyc.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED_MODULES":
            return ["src/synack/" + m.replace(".", "/") + ".py" for m in ast.literal_eval(node.value)]
    raise RuntimeError("COMPILED_MODULES not found in src/synack/_mypyc.py")


ext_modules = []
if os.environ.get("SYNACK_MYPYC", "") not in ("", "0"):
    from mypyc.build import mypycify

    ext_modules = mypycify(_modules(), opt_level=os.environ.get("SYNACK_MYPYC_OPT", "3"))

setup(ext_modules=ext_modules)
