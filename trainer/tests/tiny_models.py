"""Moved to trainer/tiny.py; kept so older callers (tests/queue_tiny_text.ts, tests/upload_peft_check.py)
still import. New code imports trainer.tiny or runs `python -m trainer tiny`."""

from trainer.tiny import build_tiny_flux, build_tiny_llama

__all__ = ["build_tiny_flux", "build_tiny_llama"]
