"""Data labs (DESIGN §2.5): a DCAT-AP catalogue of datasets, governed access, read log."""
