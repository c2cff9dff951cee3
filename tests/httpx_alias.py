"""Loaded by pytest before any test module (see pyproject addopts).

The openai and anthropic SDKs talk through httpx2; respx patches httpx. Aliasing must happen before
anything imports httpx, so it lives in this early plugin rather than in a conftest.
"""
import httpx2

httpx2.alias_httpx()
