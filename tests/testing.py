"""Import a script of ``tools/`` (not a package) as a module, for its tests."""
import importlib.util
import os
import sys
from types import ModuleType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as module ``name``, registered in ``sys.modules`` (dataclasses and
    pickling look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
