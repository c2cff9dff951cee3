"""Translate Markdown documents into many languages at once with a PocketFlow flow (see flow.py, __main__.py)."""
from apps.translate.flow import create_translate_flow, translate
from apps.translate.jobs import TranslateSettings

__all__ = ["TranslateSettings", "create_translate_flow", "translate"]
