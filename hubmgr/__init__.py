"""hubmgr: a Hugging Face Hub model-lifecycle manager.

The core modules (everything but ``cli`` and ``tui``) never import a front-end
library, and import tensor libraries lazily inside the functions that need them.
"""

__version__ = "0.1.0"
