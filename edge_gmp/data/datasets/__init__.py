"""The datasets the pipeline knows: every module here registers one (see edge_gmp.data.registry)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
