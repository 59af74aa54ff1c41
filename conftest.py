"""Project-wide pytest setup. The plugin itself is loaded through its ``pytest11`` entry point."""

import os

# Nothing may be downloaded at run time: make any accidental hub access fail fast and loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
