"""One module per measured scenario of issue 6, item 2 (P1-P3, P5-P7, scaling)."""
