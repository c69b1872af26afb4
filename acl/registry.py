"""routes.yaml ``translator:`` specs -> translators; runs when the config loads."""

from __future__ import annotations

import importlib
from typing import Final

from acl.errors import TranslatorNotFound
from acl.http import Translator

BUILT_IN: Final = {
    "catalog.products": "acl.catalog:Products",
    "inventory.stock": "acl.inventory:Stock",
}


def load_translator(spec: str) -> Translator:
    """``"catalog.products"`` (built in) or ``"pkg.module:Name"``.

    ``Name`` may be a class (instantiated without arguments), a translator instance (used as
    is) or a factory function (called without arguments).
    """
    target = BUILT_IN.get(spec, spec)
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        known = ", ".join(sorted(BUILT_IN))
        reason = f"neither a built-in translator ({known}) nor 'pkg.module:Name'"
        raise TranslatorNotFound(spec, reason=reason)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TranslatorNotFound(spec, reason=f"cannot import {module_name}: {exc}") from exc
    try:
        obj: object = getattr(module, attribute)
    except AttributeError:
        raise TranslatorNotFound(spec, reason=f"{module_name} has no {attribute}") from None
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Translator)):
        try:
            obj = obj()
        except TypeError as exc:
            raise TranslatorNotFound(spec, reason=f"cannot call {attribute}(): {exc}") from exc
    if not isinstance(obj, Translator):
        reason = f"{attribute} has no request_to_service/response_to_legacy methods"
        raise TranslatorNotFound(spec, reason=reason)
    return obj
