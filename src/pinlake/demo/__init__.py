"""The demo: ``data`` (a deterministic health-images folder and its item class), ``lake`` (those files
dropped into a lake) and ``run`` (the engine-only demo run). ``pinlake demo`` runs it with the flows."""
