"""Resource limits of every file parser, in one place. Stdlib only.

Each limit is far above what real checkpoints need and low enough that a hostile
file cannot make a reader use more than a few hundred MB or more than linear time.
"""

from __future__ import annotations

# Pickles (torch zip data.pkl, legacy pickles, bare pickles).
MAX_PICKLE_BYTES = 64 * 1024 * 1024  # a 200k-tensor data.pkl is ~30 MB
MAX_PICKLE_OPS = 8_000_000  # opcodes per pickle; each can create at most one object
MAX_TENSORS = 200_000  # tensors (persistent storage ids / safetensors entries) per file
MAX_NESTING = 200  # containers inside containers, when walking an unpickled tree

# safetensors headers: the `safetensors` library refuses headers over 100 MB; we do the same.
MAX_SAFETENSORS_HEADER = 100_000_000
MAX_JSON_DEPTH = 127  # serde_json's recursion limit (the library's), counting the outer object
MAX_INT_DIGITS = 20  # u64 fits in 20 digits; the library parses offsets and dims as usize
